//! `#[derive(Input)]`: a game's input type, its bounds declared on its fields.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Input)] does not support generic inputs",
        ));
    }
    let Data::Struct(s) = &input.data else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(Input)] needs a struct with named fields (an input is a msgpack map)",
        ));
    };
    let Fields::Named(fields) = &s.fields else {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(Input)] needs a struct with named fields (an input is a msgpack map)",
        ));
    };
    let container = serde_attrs(&input.attrs, true)?;
    let krate = quote!(::tickroom_shared::input);
    let mut schema_fields = Vec::new();
    let mut checks = Vec::new();
    for f in &fields.named {
        let Some(ident) = f.ident.as_ref() else {
            continue;
        };
        let ty = &f.ty;
        let serde = serde_attrs(&f.attrs, false)?;
        let wire = serde
            .rename
            .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
        let optional = container.default || serde.default || is_option(ty);
        let doc = doc(&f.attrs);
        let bounds = bounds(f)?;
        let span = ty.span();
        let mut ty_expr = quote_spanned!(span=> <#ty as #krate::InputValue>::describe());
        checks.push(quote_spanned! {span=>
            if !#krate::InputValue::finite(&self.#ident) {
                return ::core::result::Result::Err(#krate::InvalidInput::not_finite(#wire));
            }
            #krate::InputValue::check_nested(&self.#ident)?;
        });
        if let Some((lo, hi)) = &bounds.range {
            // The bounds are written in the field's own number type.
            let num = quote_spanned!(span=> <#ty as #krate::Numbers>::Num);
            ty_expr = quote_spanned!(span=> #ty_expr.with_range(
                #krate::Number::to_f64({ let lo: #num = #lo; lo }),
                #krate::Number::to_f64({ let hi: #num = #hi; hi }),
            ));
            checks.push(quote_spanned! {span=> {
                let (lo, hi): (#num, #num) = (#lo, #hi);
                if !#krate::Numbers::all(&self.#ident, |n| lo <= n && n <= hi) {
                    return ::core::result::Result::Err(#krate::InvalidInput::out_of_range(
                        #wire,
                        #krate::Number::to_f64(lo),
                        #krate::Number::to_f64(hi),
                    ));
                }
            }});
        }
        if let Some(mask) = &bounds.bits {
            let num = quote_spanned!(span=> <#ty as #krate::Numbers>::Num);
            ty_expr = quote_spanned!(span=> #ty_expr.with_bits(
                #krate::Unsigned::to_u64({ let mask: #num = #mask; mask }),
            ));
            checks.push(quote_spanned! {span=> {
                let mask: #num = #mask;
                if !#krate::Numbers::all(&self.#ident, |n| #krate::Unsigned::only(n, mask)) {
                    return ::core::result::Result::Err(#krate::InvalidInput::unknown_bits(
                        #wire,
                        #krate::Unsigned::to_u64(mask),
                    ));
                }
            }});
        }
        if let Some(n) = bounds.max_len {
            ty_expr = quote_spanned!(span=> #ty_expr.with_max_len(#n));
            checks.push(quote_spanned! {span=>
                if !#krate::Length::at_most(&self.#ident, #n as usize) {
                    return ::core::result::Result::Err(#krate::InvalidInput::too_long(#wire, #n));
                }
            });
        }
        schema_fields.push(quote! {
            #krate::InputField {
                name: ::std::string::String::from(#wire),
                optional: #optional,
                doc: ::std::string::String::from(#doc),
                ty: #ty_expr,
            }
        });
    }
    let type_name = name.to_string().trim_start_matches("r#").to_owned();
    let deny = container.deny_unknown_fields;
    Ok(quote! {
        impl #krate::Input for #name {
            fn schema() -> #krate::InputSchema {
                #krate::InputSchema {
                    name: ::std::string::String::from(#type_name),
                    deny_unknown_fields: #deny,
                    fields: ::std::vec![#(#schema_fields),*],
                }
            }

            fn check(&self) -> ::core::result::Result<(), #krate::InvalidInput> {
                #(#checks)*
                ::core::result::Result::Ok(())
            }
        }

        impl #krate::InputValue for #name {
            fn describe() -> #krate::InputType {
                #krate::InputType::Object { schema: <Self as #krate::Input>::schema() }
            }

            fn check_nested(&self) -> ::core::result::Result<(), #krate::InvalidInput> {
                <Self as #krate::Input>::check(self)
            }
        }
    })
}

/// What the derive needs of `#[serde(...)]`; what would make the schema lie is refused.
#[derive(Default)]
struct Serde {
    default: bool,
    deny_unknown_fields: bool,
    rename: Option<String>,
}

fn serde_attrs(attrs: &[syn::Attribute], container: bool) -> syn::Result<Serde> {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                "default" => {
                    out.default = true;
                    skip_value(&meta)
                }
                "deny_unknown_fields" if container => {
                    out.deny_unknown_fields = true;
                    Ok(())
                }
                "rename" if !container && meta.input.peek(syn::Token![=]) => {
                    let v: syn::LitStr = meta.value()?.parse()?;
                    out.rename = Some(v.value());
                    Ok(())
                }
                "rename" if container => skip_value(&meta),
                "rename" | "rename_all" | "alias" | "flatten" | "skip" | "skip_deserializing"
                | "tag" | "untagged" | "content" | "transparent" | "from" | "try_from"
                | "deserialize_with" | "with" | "remote" => Err(meta.error(format!(
                    "#[derive(Input)] cannot describe #[serde({key})]: the schema clients \
                     check inputs against would differ from what the server decodes"
                ))),
                _ => skip_value(&meta),
            }
        })?;
    }
    Ok(out)
}

/// Consumes `= value` or `(...)` after a serde key the derive does not need.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|m| skip_value(&m))?;
    }
    Ok(())
}

#[derive(Default)]
struct Bounds {
    range: Option<(syn::Expr, syn::Expr)>,
    bits: Option<syn::Expr>,
    max_len: Option<u32>,
}

/// A field's `#[input(range = LO..=HI, bits = MASK, max_len = N)]`.
fn bounds(field: &syn::Field) -> syn::Result<Bounds> {
    let mut out = Bounds::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("input")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("range") {
                let range: syn::ExprRange = meta.value()?.parse()?;
                let (Some(lo), Some(hi), syn::RangeLimits::Closed(_)) =
                    (range.start, range.end, range.limits)
                else {
                    return Err(meta.error("range is inclusive with both ends: range = LO..=HI"));
                };
                out.range = Some((*lo, *hi));
            } else if meta.path.is_ident("bits") {
                out.bits = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("max_len") {
                let n: syn::LitInt = meta.value()?.parse()?;
                out.max_len = Some(n.base10_parse()?);
            } else {
                return Err(meta.error("expected range = LO..=HI, bits = MASK or max_len = N"));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// A field's doc comment as one line.
fn doc(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

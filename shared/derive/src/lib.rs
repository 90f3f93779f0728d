//! Tickroom's derive macros: `#[derive(Replicate)]`, a game's replicated row declared as a
//! struct, and `#[derive(Input)]`, its input type with its bounds (see [`derive_input`] and
//! `tickroom_shared::input`).
//!
//! For `Replicate`, the struct's named fields are the row's fields, in declaration order and by their names;
//! the derive writes `tickroom_shared::snapshot::Replicate` for it, so the server encodes rows
//! straight from the struct and clients read them back by field name. See that trait. The
//! kind's name is `#[replicate(kind = "...")]` on the struct, or the struct's name in snake
//! case.
//!
//! A numeric field may be quantized where it is declared:
//! - `#[replicate(step = 0.01)]`: sent as the integer nearest `value / 0.01`;
//! - `#[replicate(step = 0.5, modulo = 720)]`: the same, wrapped into `0..720`;
//! - `#[replicate(angle_bits = 8)]`: an angle in radians in 8 bits (`step` = 2π / 256,
//!   `modulo` = 256); clients get it back in `0..2π`.

mod input;

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `tickroom_shared::snapshot::Replicate` for a struct with named fields (at most 64,
/// each `Serialize` and `DeserializeOwned`; a quantized one a number).
#[proc_macro_derive(Replicate, attributes(replicate))]
pub fn derive_replicate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Derives `tickroom_shared::input::Input` (and `InputValue`) for a struct with named fields:
/// `#[input(range = LO..=HI)]`, `#[input(bits = MASK)]` and `#[input(max_len = N)]` on a
/// field declare the bounds the engine checks. See `tickroom_shared::input`.
#[proc_macro_derive(Input, attributes(input))]
pub fn derive_input(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match input::expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Replicate)] does not support generic rows",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    name,
                    "#[derive(Replicate)] needs a struct with named fields: the names go on the wire",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                name,
                "#[derive(Replicate)] needs a struct with named fields",
            ));
        }
    };
    if fields.len() > 64 {
        return Err(syn::Error::new_spanned(
            name,
            "a replicated row has at most 64 fields (the change mask is a u64)",
        ));
    }
    let kind = kind_name(input)?;
    let krate = quote!(::tickroom_shared::snapshot);
    let mut idents = Vec::new();
    let mut specs = Vec::new();
    let mut writes = Vec::new();
    for f in fields {
        let Some(ident) = f.ident.as_ref() else {
            continue;
        };
        let name = ident.to_string().trim_start_matches("r#").to_owned();
        match quantization(f)? {
            Some((step, modulo)) => {
                let modulo = match modulo {
                    Some(m) => quote!(::core::option::Option::Some(#m)),
                    None => quote!(::core::option::Option::None),
                };
                specs.push(quote!(#krate::Field::quantized(#name, #step, #modulo)));
                writes.push(quote!(w.quantity(self.#ident)?;));
            }
            None => {
                specs.push(quote!(#krate::Field::raw(#name)));
                writes.push(quote!(w.field(&self.#ident)?;));
            }
        }
        idents.push(ident);
    }
    let positions = 0..idents.len();
    let count = idents.len();
    Ok(quote! {
        impl #krate::Replicate for #name {
            const KIND: &'static str = #kind;

            const FIELDS: &'static [#krate::Field] = &[#(#specs),*];

            fn write_fields(
                &self,
                w: &mut #krate::RowWriter<'_>,
            ) -> ::core::result::Result<(), #krate::RowError> {
                #( #writes )*
                ::core::result::Result::Ok(())
            }

            fn read_rows(
                frame: &#krate::Frame,
            ) -> ::core::result::Result<
                ::std::vec::Vec<(u32, Self)>,
                ::tickroom_shared::wire::DecodeError,
            > {
                let kind = frame
                    .kind_index(Self::KIND)
                    .ok_or(::tickroom_shared::wire::DecodeError::Shape)?;
                let at: [usize; #count] = frame.field_indices(kind, Self::FIELDS)?;
                frame
                    .rows_of(kind)
                    .map(|(key, row)| {
                        ::core::result::Result::Ok((
                            key,
                            Self { #( #idents: frame.value(row, at[#positions])?, )* },
                        ))
                    })
                    .collect()
            }
        }
    })
}

/// The kind's name: the struct's `#[replicate(kind = "...")]`, else its name in snake case.
fn kind_name(input: &DeriveInput) -> syn::Result<String> {
    let mut kind = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("replicate"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("kind") {
                let value: syn::LitStr = meta.value()?.parse()?;
                let name = value.value();
                if name.is_empty() || name.len() > 64 {
                    return Err(meta.error("a kind's name is 1 to 64 characters"));
                }
                kind = Some(name);
                Ok(())
            } else {
                Err(meta.error("expected kind = \"...\" on the struct"))
            }
        })?;
    }
    Ok(kind.unwrap_or_else(|| snake_case(&input.ident.to_string())))
}

/// `ArenaPlayer` → `arena_player`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.trim_start_matches("r#").chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A field's `#[replicate(...)]`: its step and modulo, if it is quantized.
fn quantization(field: &syn::Field) -> syn::Result<Option<(f64, Option<u64>)>> {
    let mut step: Option<f64> = None;
    let mut modulo: Option<u64> = None;
    let mut angle_bits: Option<u32> = None;
    for attr in field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("replicate"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("step") {
                let value: syn::Lit = meta.value()?.parse()?;
                let v = match &value {
                    syn::Lit::Float(f) => f.base10_parse::<f64>()?,
                    syn::Lit::Int(i) => i.base10_parse::<f64>()?,
                    _ => return Err(meta.error("step is a number, e.g. step = 0.01")),
                };
                if !(v.is_finite() && v > 0.0) {
                    return Err(meta.error("step must be a positive number"));
                }
                step = Some(v);
            } else if meta.path.is_ident("modulo") {
                let value: syn::LitInt = meta.value()?.parse()?;
                let m = value.base10_parse::<u64>()?;
                if m == 0 {
                    return Err(meta.error("modulo must be at least 1"));
                }
                modulo = Some(m);
            } else if meta.path.is_ident("angle_bits") {
                let value: syn::LitInt = meta.value()?.parse()?;
                let bits = value.base10_parse::<u32>()?;
                if !(1..=32).contains(&bits) {
                    return Err(meta.error("angle_bits is 1 to 32"));
                }
                angle_bits = Some(bits);
            } else {
                return Err(meta.error("expected step, modulo or angle_bits"));
            }
            Ok(())
        })?;
    }
    match (step, modulo, angle_bits) {
        (None, None, None) => Ok(None),
        (Some(step), modulo, None) => Ok(Some((step, modulo))),
        (None, None, Some(bits)) => {
            let m = 1u64 << bits;
            Ok(Some((std::f64::consts::TAU / m as f64, Some(m))))
        }
        (None, Some(_), None) => Err(syn::Error::new_spanned(
            field,
            "modulo needs a step: #[replicate(step = ..., modulo = ...)]",
        )),
        _ => Err(syn::Error::new_spanned(
            field,
            "angle_bits sets step and modulo itself: use it alone",
        )),
    }
}

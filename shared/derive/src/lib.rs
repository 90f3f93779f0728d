//! `#[derive(Replicate)]`: a game's replicated row, declared as a struct.
//!
//! The struct's named fields are the row's fields, in declaration order and by their names;
//! the derive writes `tickroom_shared::snapshot::Replicate` for it, so the server encodes rows
//! straight from the struct and clients read them back by field name. See that trait.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `tickroom_shared::snapshot::Replicate` for a struct with named fields (at most 64,
/// each `Serialize` and `DeserializeOwned`).
#[proc_macro_derive(Replicate)]
pub fn derive_replicate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
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
    let idents: Vec<_> = fields.iter().filter_map(|f| f.ident.as_ref()).collect();
    let names: Vec<String> = idents
        .iter()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
        .collect();
    let positions = 0..idents.len();
    let count = idents.len();
    let krate = quote!(::tickroom_shared::snapshot);
    Ok(quote! {
        impl #krate::Replicate for #name {
            const FIELDS: &'static [&'static str] = &[#(#names),*];

            fn write_fields(
                &self,
                w: &mut #krate::RowWriter<'_>,
            ) -> ::core::result::Result<(), #krate::RowError> {
                #( w.field(&self.#idents)?; )*
                ::core::result::Result::Ok(())
            }

            fn read_rows(
                frame: &#krate::Frame,
            ) -> ::core::result::Result<
                ::std::vec::Vec<(u32, Self)>,
                ::tickroom_shared::wire::DecodeError,
            > {
                let at: [usize; #count] = frame.field_indices(Self::FIELDS)?;
                frame
                    .rows
                    .iter()
                    .map(|(key, row)| {
                        ::core::result::Result::Ok((
                            *key,
                            Self { #( #idents: frame.value(row, at[#positions])?, )* },
                        ))
                    })
                    .collect()
            }
        }
    })
}

//! `#[derive(Block)]`: implements `weir_sdk::Block` for a struct with named fields, from
//! `#[block(slug = "...", name = "...")]` on the struct (both optional: the slug defaults to the
//! struct's name in kebab case, the name to its words) and `#[block(secret)]` on fields whose
//! values the server must mask. The schema itself comes from the struct's `schemars::JsonSchema`.
//!
//! Only metadata is generated; registering, saving and loading are the trait's provided methods.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

/// The derive's expansion, or the error at the offending span.
pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "Block cannot be derived for a generic struct: a block type has one schema",
        ));
    }
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "Block can only be derived for a struct with named fields",
                ))
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "Block can only be derived for a struct with named fields",
            ))
        }
    };
    let ident = &input.ident;
    let mut slug = None;
    let mut name = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("block")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("slug") {
                let value: LitStr = meta.value()?.parse()?;
                check_slug(&value)?;
                slug = Some(value.value());
            } else if meta.path.is_ident("name") {
                let value: LitStr = meta.value()?.parse()?;
                if value.value().trim().is_empty() {
                    return Err(syn::Error::new_spanned(
                        value,
                        "a block type name cannot be empty",
                    ));
                }
                name = Some(value.value());
            } else {
                return Err(meta.error("unknown block option: expected `slug` or `name`"));
            }
            Ok(())
        })?;
    }
    let mut secrets = Vec::new();
    for field in fields {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("block")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("secret") {
                    let field_name = field.ident.as_ref().map(ToString::to_string);
                    secrets.extend(field_name);
                    Ok(())
                } else {
                    Err(meta.error("unknown block field option: expected `secret`"))
                }
            })?;
        }
    }
    let words = words(&ident.to_string());
    let slug = slug.unwrap_or_else(|| words.join("-").to_lowercase());
    let name = name.unwrap_or_else(|| words.join(" "));
    Ok(quote! {
        impl ::weir_sdk::Block for #ident {
            fn block_type_slug() -> &'static str {
                #slug
            }
            fn block_type_name() -> &'static str {
                #name
            }
            fn secret_fields() -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![#(::std::string::String::from(#secrets)),*]
            }
            fn schema_version() -> &'static str {
                ::core::env!("CARGO_PKG_VERSION")
            }
        }
    })
}

/// A slug holds lowercase letters, digits and dashes (what the server accepts).
fn check_slug(slug: &LitStr) -> syn::Result<()> {
    let value = slug.value();
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(syn::Error::new_spanned(
            slug,
            "a block type slug holds only lowercase letters, digits and dashes",
        ));
    }
    Ok(())
}

/// The words of a CamelCase name: `S3Bucket` → `["S3", "Bucket"]`.
fn words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for c in name.chars().filter(|c| *c != '_') {
        let boundary =
            c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
        match words.last_mut() {
            Some(word) if !boundary => word.push(c),
            _ => words.push(c.to_string()),
        }
        previous = Some(c);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("S3Bucket"), ["S3", "Bucket"]);
        assert_eq!(
            words("KubernetesClusterConfig"),
            ["Kubernetes", "Cluster", "Config"]
        );
        assert_eq!(words("Token"), ["Token"]);
    }

    #[test]
    fn the_derive_names_the_type_and_its_secrets() {
        let input = quote! {
            #[block(slug = "my-store")]
            struct MyStore { bucket: String, #[block(secret)] key: String }
        };
        let out = expand(input).unwrap().to_string();
        assert!(out.contains("\"my-store\""), "{out}");
        assert!(out.contains("\"My Store\""), "{out}");
        assert!(out.contains("\"key\""), "{out}");
        assert!(!out.contains("\"bucket\""), "{out}");
    }
}

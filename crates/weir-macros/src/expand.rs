//! Code generation for `#[flow]` and `#[task]`.
//!
//! The function keeps its name and signature, so callers write `my_task(x).await` as before. Its
//! body moves into an inner function, and the outer body hands a closure that calls the inner one
//! to the runtime (`::weir_sdk::__private::run_flow` / `run_task` / `run_task_sync`), which reports
//! states and decides how many times to call it. Without retries the closure moves the arguments
//! in once; with retries it clones them for each attempt, so only retried functions need `Clone`
//! arguments.

use crate::options::Options;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{FnArg, Ident, Item, ItemFn, Pat, ReturnType, Type};

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Flow,
    Task,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Flow => "#[flow]",
            Kind::Task => "#[task]",
        }
    }
}

pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = Options::parse(attr)?;
    let function = match syn::parse2::<Item>(item)? {
        Item::Fn(function) => function,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("{} can only be applied to a function", kind.attribute()),
            ))
        }
    };
    let is_async = function.sig.asyncness.is_some();
    if kind == Kind::Flow && !is_async {
        return Err(syn::Error::new(
            function.sig.fn_token.span,
            "a #[flow] must be an `async fn`",
        ));
    }
    if let (false, Some((_, span))) = (is_async, options.timeout_seconds) {
        return Err(syn::Error::new(
            span,
            "`timeout_seconds` needs an `async fn`: a blocking function cannot be interrupted",
        ));
    }
    let names = argument_names(&function)?;
    Ok(generate(kind, &options, function, &names))
}

/// The argument names, in order. Arguments must be plain names (`x: T` or `mut x: T`).
fn argument_names(function: &ItemFn) -> syn::Result<Vec<Ident>> {
    function
        .sig
        .inputs
        .iter()
        .map(|input| match input {
            FnArg::Receiver(receiver) => Err(syn::Error::new_spanned(
                receiver,
                "flows and tasks are free functions; they cannot take `self`",
            )),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                    Ok(pat.ident.clone())
                }
                other => Err(syn::Error::new_spanned(
                    other,
                    "flow and task arguments must be plain names, e.g. `rows: Vec<Row>`",
                )),
            },
        })
        .collect()
}

/// Whether the function returns a `Result` (by the last segment of its return type's path), in
/// which case an `Err` fails the run; otherwise only a panic or a timeout does.
fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
    }
}

fn generate(kind: Kind, options: &Options, function: ItemFn, names: &[Ident]) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let fn_name = sig.ident.to_string();
    let is_async = sig.asyncness.is_some();
    let fallible = returns_result(&sig.output);
    let options_expr = options_literal(kind, options, &fn_name, &attrs);

    let inner = format_ident!("__weir_body");
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();

    let name_strings = names.iter().map(|n| n.to_string());
    let params = quote! {
        ::std::vec![#( (#name_strings, ::weir_sdk::__private::to_json(&#names)) ),*]
    };
    // Without arguments there is nothing to move or clone; with retries each attempt gets copies.
    let retried = options.retries.unwrap_or(0) > 0 || names.is_empty();
    let call = if retried {
        quote! { #inner(#( ::core::clone::Clone::clone(&#names) ),*) }
    } else {
        quote! {{
            let (#(#names,)*) = __weir_args
                .take()
                .expect("the runtime calls a function without retries once");
            #inner(#(#names),*)
        }}
    };
    let capture = if retried {
        quote! {}
    } else {
        quote! { let mut __weir_args = ::core::option::Option::Some((#(#names,)*)); }
    };
    let runner = match (kind, is_async) {
        (Kind::Flow, _) => quote! { ::weir_sdk::__private::run_flow },
        (Kind::Task, true) => quote! { ::weir_sdk::__private::run_task },
        (Kind::Task, false) => quote! { ::weir_sdk::__private::run_task_sync },
    };
    let run = match (is_async, fallible) {
        (true, true) => quote! {
            #runner(&__WEIR_OPTIONS, __weir_params, move || #call).await
        },
        (true, false) => quote! {
            ::weir_sdk::__private::unwrap_or_panic(
                #runner(&__WEIR_OPTIONS, __weir_params, move || {
                    let __weir_future = #call;
                    async move {
                        ::core::result::Result::Ok::<_, ::weir_sdk::Error>(__weir_future.await)
                    }
                })
                .await,
            )
        },
        (false, true) => quote! {
            #runner(&__WEIR_OPTIONS, __weir_params, move || #call)
        },
        (false, false) => quote! {
            ::weir_sdk::__private::unwrap_or_panic(
                #runner(&__WEIR_OPTIONS, __weir_params, move || {
                    ::core::result::Result::Ok::<_, ::weir_sdk::Error>(#call)
                }),
            )
        },
    };
    let span = sig.ident.span();
    let body = quote_spanned! {span=>
        #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
        #inner_sig #block

        static __WEIR_OPTIONS: ::weir_sdk::__private::Options = #options_expr;
        let __weir_params = #params;
        #capture
        #run
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

fn options_literal(
    kind: Kind,
    options: &Options,
    fn_name: &str,
    attrs: &[syn::Attribute],
) -> TokenStream {
    // Prefect names flows after the function with `_` turned into `-`, and tasks after the function.
    let default_name = match kind {
        Kind::Flow => fn_name.replace('_', "-"),
        Kind::Task => fn_name.to_owned(),
    };
    let name = options
        .name
        .as_ref()
        .map_or(default_name, |lit| lit.value());
    let description = options
        .description
        .as_ref()
        .map(|lit| lit.value())
        .or_else(|| doc_comment(attrs));
    let description = optional_str(description);
    let version = optional_str(options.version.as_ref().map(|lit| lit.value()));
    let tags = &options.tags;
    let retries = options.retries.unwrap_or(0);
    let delays = options
        .retry_delay_seconds
        .iter()
        .map(|d| Literal::f64_suffixed(*d));
    let timeout = match options.timeout_seconds {
        Some((seconds, _)) => {
            let seconds = Literal::f64_suffixed(seconds);
            quote! { ::core::option::Option::Some(#seconds) }
        }
        None => quote! { ::core::option::Option::None },
    };
    quote! {
        ::weir_sdk::__private::Options {
            name: #name,
            key: ::core::concat!(::core::module_path!(), "::", #fn_name),
            description: #description,
            version: #version,
            tags: &[#(#tags),*],
            retries: #retries,
            retry_delay_seconds: &[#(#delays),*],
            timeout_seconds: #timeout,
        }
    }
}

fn optional_str(value: Option<String>) -> TokenStream {
    match value {
        Some(text) => quote! { ::core::option::Option::Some(#text) },
        None => quote! { ::core::option::Option::None },
    }
}

/// The function's `///` comment, lines trimmed and joined, if it has one.
fn doc_comment(attrs: &[syn::Attribute]) -> Option<String> {
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
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

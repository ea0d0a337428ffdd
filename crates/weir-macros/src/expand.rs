//! Code generation for `#[flow]` and `#[task]`.
//!
//! The function keeps its name and signature, so callers write `my_task(x).await` as before. When
//! its arguments are owned (no references, lifetimes, generics or `impl Trait`), a struct of the
//! same name is generated beside it — structs and functions live in different namespaces — whose
//! associated functions give Prefect's methods: `my_task::submit(x)`, `my_task::map(items)`,
//! `my_task::with_options()`, and which implements `TaskFn`/`FlowFn` so the runtime, `with_options`
//! copies and `weir_sdk::main!` can call the function with options chosen at run time. The user's
//! body becomes the struct's hidden `__weir_body`; `__weir_run` hands a closure calling it to the
//! runtime (`run_flow` / `run_task` / `run_task_sync`), which reports states and decides how many
//! times to call it. With retries in the attribute the closure clones the arguments for each
//! attempt; without, it clones them when they are `Clone` (so `with_options().retries(n)` can
//! retry) and moves them in once when not, so only retried functions need `Clone` arguments.
//!
//! Functions with borrowed or generic arguments get the same runtime behaviour without the struct
//! (their inner functions are nested in the function instead).

use crate::options::Options;
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::visit::Visit;
use syn::{FnArg, GenericArgument, Ident, Item, ItemFn, Pat, PathArguments, ReturnType, Type};

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

/// One argument: its name and type.
struct Arg {
    name: Ident,
    ty: Type,
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
    if let (Kind::Flow, Some((option, span))) = (kind, options.task_only.first()) {
        return Err(syn::Error::new(
            *span,
            format!("`{option}` is a task option; flows do not take it"),
        ));
    }
    if let (false, Some((_, span))) = (is_async, options.timeout_seconds) {
        return Err(syn::Error::new(
            span,
            "`timeout_seconds` needs an `async fn`: a blocking function cannot be interrupted",
        ));
    }
    let args = arguments(&function)?;
    Ok(generate(kind, &options, function, &args))
}

/// The arguments, in order. Arguments must be plain names (`x: T` or `mut x: T`).
fn arguments(function: &ItemFn) -> syn::Result<Vec<Arg>> {
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
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Ok(Arg {
                    name: pat.ident.clone(),
                    ty: (*typed.ty).clone(),
                }),
                other => Err(syn::Error::new_spanned(
                    other,
                    "flow and task arguments must be plain names, e.g. `rows: Vec<Row>`",
                )),
            },
        })
        .collect()
}

/// Whether a type borrows or hides its type: references, lifetimes, `impl Trait`, `Self`.
fn borrows_or_hides(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, _: &'ast syn::Lifetime) {
            self.0 = true;
        }
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
        fn visit_ident(&mut self, ident: &'ast Ident) {
            if ident == "Self" {
                self.0 = true;
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// The last path segment of a type, if it is a path.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// The value type of a function's output: `T` of a `Result<T, ..>` when it returns a `Result`
/// (then an `Err` fails the run), else the output itself. `None` when the type cannot be named.
fn value_type(output: &ReturnType) -> (bool, Option<Type>) {
    let ty = match output {
        ReturnType::Default => return (false, Some(syn::parse_quote!(()))),
        ReturnType::Type(_, ty) => &**ty,
    };
    match last_segment(ty) {
        Some(segment) if segment.ident == "Result" => {
            let ok = match &segment.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::Type(t) => Some(t.clone()),
                    _ => None,
                }),
                _ => None,
            };
            (true, ok.filter(|t| !borrows_or_hides(t)))
        }
        _ => (false, Some(ty.clone()).filter(|t| !borrows_or_hides(t))),
    }
}

/// A 64-bit FNV-1a hash of the function's tokens, in hex: the `task_source` part of cache keys.
fn source_hash(function: &ItemFn) -> String {
    let text = function.to_token_stream().to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn generate(kind: Kind, options: &Options, function: ItemFn, args: &[Arg]) -> TokenStream {
    let source = source_hash(&function);
    let companion = function.sig.generics.params.is_empty()
        && function.sig.generics.where_clause.is_none()
        && !args.iter().any(|a| borrows_or_hides(&a.ty));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let ident = sig.ident.clone();
    let span = ident.span();
    let is_async = sig.asyncness.is_some();
    let (fallible, value) = value_type(&sig.output);
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let options_expr = options_literal(kind, options, &ident.to_string(), &attrs, &source);
    let codec = match &value {
        Some(ty) => quote! {{
            use ::weir_sdk::__private::{NoSerde as _, ViaSerde as _};
            (&::weir_sdk::__private::Probe::<#ty>::new()).codec()
        }},
        None => quote! { ::weir_sdk::__private::Codec::NONE },
    };
    let names: Vec<&Ident> = args.iter().map(|a| &a.name).collect();
    let types: Vec<&Type> = args.iter().map(|a| &a.ty).collect();

    // The signature with plain argument names (the user's `mut` stays on the body's signature).
    let mut plain_sig = sig.clone();
    for (input, name) in plain_sig.inputs.iter_mut().zip(&names) {
        if let FnArg::Typed(typed) = input {
            *typed.pat = syn::parse_quote!(#name);
        }
    }
    let mut body_sig = sig.clone();
    body_sig.ident = format_ident!("__weir_body");
    let mut run_sig = plain_sig.clone();
    run_sig.ident = format_ident!("__weir_run");
    run_sig.inputs.insert(
        0,
        syn::parse_quote!(__weir_options: &::weir_sdk::__private::Options),
    );

    let body_path = if companion {
        quote!(Self::__weir_body)
    } else {
        quote!(__weir_body)
    };
    let run_body = runtime_call(
        kind, options, is_async, fallible, &codec, &names, &body_path,
    );
    let options_path = if companion {
        quote!(&#ident::__WEIR_OPTIONS)
    } else {
        quote!(&__WEIR_OPTIONS)
    };
    let run_path = if companion {
        quote!(#ident::__weir_run)
    } else {
        quote!(__weir_run)
    };
    let awaited = if is_async { quote!(.await) } else { quote!() };
    let outer_call = quote_spanned! {span=> #run_path(#options_path, #(#names),*) #awaited };

    if !companion {
        return quote! {
            #(#attrs)*
            #vis #plain_sig {
                #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
                #body_sig #block

                #[allow(clippy::too_many_arguments)]
                #run_sig { #run_body }

                static __WEIR_OPTIONS: ::weir_sdk::__private::Options = #options_expr;
                #outer_call
            }
        };
    }

    let args_type = match types.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    };
    let args_pattern = match names.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    };
    let doc = format!(
        "The {} `{ident}`: its options, and Prefect's methods on it.",
        kind.attribute()
    );
    let methods = match kind {
        Kind::Task => task_methods(&vis, &names, &types, &args_type, &output, &args_pattern),
        Kind::Flow => quote! {
            /// This flow with options changed for some calls (Prefect's `with_options`).
            #vis fn with_options() -> ::weir_sdk::FlowWith<Self> {
                ::weir_sdk::FlowWith::new()
            }
        },
    };
    let trait_impl = match kind {
        Kind::Task => {
            let call = if is_async {
                quote! { ::std::boxed::Box::pin(async move { Self::__weir_run(&options, #(#names),*).await }) }
            } else {
                quote! { ::weir_sdk::__private::blocking(move || Self::__weir_run(&options, #(#names),*)) }
            };
            quote! {
                impl ::weir_sdk::__private::TaskFn for #ident {
                    type Args = #args_type;
                    type Output = #output;
                    fn options() -> &'static ::weir_sdk::__private::Options {
                        &Self::__WEIR_OPTIONS
                    }
                    fn run(
                        options: ::weir_sdk::__private::Cow<'static, ::weir_sdk::__private::Options>,
                        args: Self::Args,
                    ) -> ::weir_sdk::__private::BoxFuture<'static, Self::Output> {
                        let #args_pattern = args;
                        #call
                    }
                }
            }
        }
        Kind::Flow => flow_impl(
            &ident,
            args,
            &args_type,
            &args_pattern,
            &output,
            fallible,
            &codec,
        ),
    };
    quote! {
        #(#attrs)*
        #vis #plain_sig {
            #outer_call
        }

        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}

        #[allow(dead_code, clippy::too_many_arguments, clippy::needless_pass_by_value)]
        impl #ident {
            #[doc(hidden)]
            pub const __WEIR_OPTIONS: ::weir_sdk::__private::Options = #options_expr;

            #[doc(hidden)]
            #body_sig #block

            #[doc(hidden)]
            #run_sig { #run_body }

            #methods
        }

        #trait_impl
    }
}

/// The body of `__weir_run`: the call of the runtime with the options, codec, parameters and a
/// closure calling the user's body.
fn runtime_call(
    kind: Kind,
    options: &Options,
    is_async: bool,
    fallible: bool,
    codec: &TokenStream,
    names: &[&Ident],
    body_path: &TokenStream,
) -> TokenStream {
    let name_strings = names.iter().map(|n| n.to_string());
    let params = quote! {{
        use ::weir_sdk::__private::{NoSerialize as _, ViaSerialize as _};
        ::std::vec![#( (#name_strings, (&::weir_sdk::__private::Probe::of(&#names)).to_json(&#names)) ),*]
    }};
    // Without arguments there is nothing to move or clone; with retries each attempt gets copies.
    let retried = options.retries.unwrap_or(0) > 0 || names.is_empty();
    let call = if retried {
        quote! { #body_path(#( ::core::clone::Clone::clone(&#names) ),*) }
    } else {
        quote! {{
            let (#(#names,)*) = {
                use ::weir_sdk::__private::{NoClone as _, ViaClone as _};
                (&::weir_sdk::__private::Probe::of_option(&__weir_args)).next_args(&mut __weir_args)
            }
            .expect("a function whose arguments are not Clone runs once: give it retries in its attribute to retry it");
            #body_path(#(#names),*)
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
            #runner(__weir_options, #codec, __weir_params, move || #call).await
        },
        (true, false) => quote! {
            ::weir_sdk::__private::unwrap_or_panic(
                #runner(__weir_options, #codec, __weir_params, move || {
                    let __weir_future = #call;
                    async move {
                        ::core::result::Result::Ok::<_, ::weir_sdk::Error>(__weir_future.await)
                    }
                })
                .await,
            )
        },
        (false, true) => quote! {
            #runner(__weir_options, #codec, __weir_params, move || #call)
        },
        (false, false) => quote! {
            ::weir_sdk::__private::unwrap_or_panic(
                #runner(__weir_options, #codec, __weir_params, move || {
                    ::core::result::Result::Ok::<_, ::weir_sdk::Error>(#call)
                }),
            )
        },
    };
    quote! {
        let __weir_params = #params;
        #capture
        #run
    }
}

fn task_methods(
    vis: &syn::Visibility,
    names: &[&Ident],
    types: &[&Type],
    args_type: &TokenStream,
    output: &TokenStream,
    args_pattern: &TokenStream,
) -> TokenStream {
    quote! {
        /// Starts a call concurrently on the tokio runtime (Prefect's `submit`); await the
        /// handle for the value.
        #vis fn submit(#(#names: #types),*) -> ::weir_sdk::TaskFuture<#output> {
            ::weir_sdk::TaskWith::<Self>::new().submit(#args_pattern)
        }

        /// Starts one call per item, concurrently (Prefect's `map`); an item is the argument,
        /// or a tuple of the arguments. Await the handles for the values, in order.
        #vis fn map<I>(items: I) -> ::weir_sdk::TaskFutures<#output>
        where
            I: ::core::iter::IntoIterator<Item = #args_type>,
        {
            ::weir_sdk::TaskWith::<Self>::new().map(items)
        }

        /// This task with options changed for some calls (Prefect's `with_options`).
        #vis fn with_options() -> ::weir_sdk::TaskWith<Self> {
            ::weir_sdk::TaskWith::new()
        }
    }
}

fn flow_impl(
    ident: &Ident,
    args: &[Arg],
    args_type: &TokenStream,
    args_pattern: &TokenStream,
    output: &TokenStream,
    fallible: bool,
    codec: &TokenStream,
) -> TokenStream {
    let names: Vec<&Ident> = args.iter().map(|a| &a.name).collect();
    let schema_entries = args.iter().enumerate().map(|(position, arg)| {
        let (name, ty) = (arg.name.to_string(), &arg.ty);
        let required = last_segment(ty).is_none_or(|s| s.ident != "Option");
        quote! {
            let __weir_schema = (&::weir_sdk::__private::Probe::<#ty>::new())
                .schema(__weir_parameters.generator());
            __weir_parameters.add(#name, #position, __weir_schema, #required);
        }
    });
    let reads = args.iter().map(|arg| {
        let (name, ty) = (&arg.name, &arg.ty);
        let text = name.to_string();
        quote! {
            let #name: #ty = (&::weir_sdk::__private::Probe::<#ty>::new())
                .read_json(#text, ::weir_sdk::__private::parameter(&parameters, #text))
                .map_err(::weir_sdk::__private::CallError::Parameter)?;
        }
    });
    let call = if fallible {
        quote! { Self::__weir_run(&options, #(#names),*).await }
    } else {
        quote! {
            ::core::result::Result::Ok::<_, ::weir_sdk::Error>(
                Self::__weir_run(&options, #(#names),*).await,
            )
        }
    };
    quote! {
        impl ::weir_sdk::__private::FlowFn for #ident {
            type Args = #args_type;
            type Output = #output;
            fn options() -> &'static ::weir_sdk::__private::Options {
                &Self::__WEIR_OPTIONS
            }
            fn run(
                options: ::weir_sdk::__private::Cow<'static, ::weir_sdk::__private::Options>,
                args: Self::Args,
            ) -> ::weir_sdk::__private::LocalBoxFuture<'static, Self::Output> {
                let #args_pattern = args;
                ::std::boxed::Box::pin(async move { Self::__weir_run(&options, #(#names),*).await })
            }
            fn parameter_schema() -> ::weir_sdk::__private::Value {
                use ::weir_sdk::__private::{NoSchema as _, ViaSchema as _};
                let mut __weir_parameters = ::weir_sdk::__private::ParameterSchema::new();
                #(#schema_entries)*
                __weir_parameters.finish()
            }
            fn run_json(
                options: ::weir_sdk::__private::Cow<'static, ::weir_sdk::__private::Options>,
                parameters: ::weir_sdk::__private::Map<::std::string::String, ::weir_sdk::__private::Value>,
            ) -> ::weir_sdk::__private::LocalBoxFuture<
                'static,
                ::core::result::Result<::weir_sdk::__private::Value, ::weir_sdk::__private::CallError>,
            > {
                ::std::boxed::Box::pin(async move {
                    use ::weir_sdk::__private::{NoDeserialize as _, ViaDeserialize as _};
                    let _ = &parameters;
                    #(#reads)*
                    ::weir_sdk::__private::outcome_json(#codec, async move { #call }).await
                })
            }
        }
    }
}

fn options_literal(
    kind: Kind,
    options: &Options,
    fn_name: &str,
    attrs: &[syn::Attribute],
    source: &str,
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
    let optional_f64 = |value: Option<f64>| match value {
        Some(v) => {
            let v = Literal::f64_suffixed(v);
            quote! { ::core::option::Option::Some(#v) }
        }
        None => quote! { ::core::option::Option::None },
    };
    let jitter = optional_f64(options.retry_jitter_factor);
    let timeout = optional_f64(options.timeout_seconds.map(|(s, _)| s));
    let expiration = optional_f64(options.cache_expiration);
    let policy = match &options.cache_policy {
        Some(parts) => {
            let flags = ["inputs", "task_source", "run_id", "flow_parameters"].map(|part| {
                let field = Ident::new(part, Span::call_site());
                let on = parts.contains(&part);
                quote! { #field: #on }
            });
            quote! {
                ::core::option::Option::Some(::weir_sdk::__private::CachePolicy { #(#flags),* })
            }
        }
        None => quote! { ::core::option::Option::None },
    };
    let key_fn = match &options.cache_key_fn {
        Some(path) => quote! { ::core::option::Option::Some(#path as ::weir_sdk::CacheKeyFn) },
        None => quote! { ::core::option::Option::None },
    };
    let persist = match options.persist_result {
        Some(p) => quote! { ::core::option::Option::Some(#p) },
        None => quote! { ::core::option::Option::None },
    };
    let (refresh, log_prints) = (options.refresh_cache, options.log_prints);
    quote! {
        ::weir_sdk::__private::Options {
            name: ::weir_sdk::__private::Cow::Borrowed(#name),
            key: ::core::concat!(::core::module_path!(), "::", #fn_name),
            description: #description,
            version: #version,
            tags: ::weir_sdk::__private::Cow::Borrowed(
                &[#(::weir_sdk::__private::Cow::Borrowed(#tags)),*],
            ),
            retries: #retries,
            retry_delay_seconds: ::weir_sdk::__private::Cow::Borrowed(&[#(#delays),*]),
            retry_jitter_factor: #jitter,
            timeout_seconds: #timeout,
            cache_policy: #policy,
            cache_key_fn: #key_fn,
            cache_expiration: #expiration,
            persist_result: #persist,
            refresh_cache: #refresh,
            log_prints: #log_prints,
            source_hash: #source,
        }
    }
}

fn optional_str(value: Option<String>) -> TokenStream {
    match value {
        Some(text) => quote! {
            ::core::option::Option::Some(::weir_sdk::__private::Cow::Borrowed(#text))
        },
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

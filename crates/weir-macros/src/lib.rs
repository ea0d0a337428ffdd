//! The `#[flow]` and `#[task]` attribute macros of the Weir SDK. Use them through `weir-sdk`, which
//! re-exports them: the generated code calls `::weir_sdk::__private`, the runtime that reports
//! states to the server.
//!
//! Both attributes keep the function's name and signature; only its body is wrapped. Options follow
//! Prefect's names: `name`, `description`, `version`, `tags`, `retries`, `retry_delay_seconds` (a
//! number or a list), `timeout_seconds`. A mistake in them is a compile error at its span.
//!
//! `#[derive(Block)]` (`block`) implements `weir_sdk::Block` for a configuration struct.

mod block;
mod expand;
mod options;

use proc_macro::TokenStream;

/// Turns an `async fn` into a flow: each call creates a flow run on the server and reports its
/// states. See `weir_sdk` for the semantics.
#[proc_macro_attribute]
pub fn flow(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(expand::Kind::Flow, attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns an `async fn` or a plain `fn` into a task: each call inside a flow creates a task run
/// whose states are reported to the server. See `weir_sdk` for the semantics.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(expand::Kind::Task, attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `weir_sdk::Block`: `#[block(slug = "...", name = "...")]` on the struct names its
/// block type (defaults: the struct's name in kebab case, and in words) and `#[block(secret)]`
/// marks a field the server masks. The struct must also derive `Serialize`, `Deserialize` and
/// `schemars::JsonSchema`.
#[proc_macro_derive(Block, attributes(block))]
pub fn derive_block(item: TokenStream) -> TokenStream {
    block::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

//! Parses the options of `#[flow(...)]` and `#[task(...)]`. Every mistake is a `syn::Error` on the
//! span of the offending token, so the compiler points at it.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprArray, ExprLit, Lit, LitBool, LitStr, Path};

/// The options one attribute was given; `None`/empty when left out.
#[derive(Default)]
pub(crate) struct Options {
    pub name: Option<LitStr>,
    pub description: Option<LitStr>,
    pub version: Option<LitStr>,
    pub tags: Vec<LitStr>,
    pub retries: Option<u32>,
    pub retry_delay_seconds: Vec<f64>,
    pub retry_jitter_factor: Option<f64>,
    pub timeout_seconds: Option<(f64, Span)>,
    /// The policy's parts (`inputs`, `task_source`, `run_id`, `flow_parameters`); empty for `none`.
    pub cache_policy: Option<Vec<&'static str>>,
    pub cache_key_fn: Option<Path>,
    pub cache_expiration: Option<f64>,
    pub persist_result: Option<bool>,
    pub refresh_cache: bool,
    pub log_prints: bool,
    /// Task-only options that were given, with their spans (a flow rejects them).
    pub task_only: Vec<(&'static str, Span)>,
}

const KNOWN: &str = "name, description, version, tags, retries, retry_delay_seconds, \
     retry_jitter_factor, timeout_seconds, cache_policy, cache_key_fn, cache_expiration, \
     persist_result, refresh_cache, log_prints";

/// The cache policies by name, and the parts each is made of.
const POLICIES: &[(&str, &[&str])] = &[
    ("default", &["inputs", "task_source", "run_id"]),
    ("inputs", &["inputs"]),
    ("task_source", &["task_source"]),
    ("run_id", &["run_id"]),
    ("flow_parameters", &["flow_parameters"]),
    ("none", &[]),
];

impl Options {
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Options> {
        let mut options = Options::default();
        let parser = syn::meta::parser(|meta| options.parse_one(meta));
        parser.parse2(attr)?;
        Ok(options)
    }

    fn parse_one(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            return Err(meta.error(format!("unknown option; expected one of: {KNOWN}")));
        };
        match ident.to_string().as_str() {
            "name" => self.name = Some(non_empty(meta.value()?.parse()?)?),
            "description" => self.description = Some(meta.value()?.parse()?),
            "version" => self.version = Some(meta.value()?.parse()?),
            "tags" => {
                let list: ExprArray = meta.value()?.parse()?;
                self.tags = list
                    .elems
                    .iter()
                    .map(|e| match e {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => Ok(s.clone()),
                        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
                    })
                    .collect::<syn::Result<_>>()?;
            }
            "retries" => {
                let lit: Lit = meta.value()?.parse()?;
                match &lit {
                    Lit::Int(n) => self.retries = Some(n.base10_parse()?),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "expected a whole number of retries, e.g. `retries = 3`",
                        ))
                    }
                }
            }
            "retry_delay_seconds" => {
                let expr: Expr = meta.value()?.parse()?;
                self.retry_delay_seconds = match &expr {
                    Expr::Array(list) if !list.elems.is_empty() => {
                        list.elems.iter().map(seconds).collect::<syn::Result<_>>()?
                    }
                    Expr::Array(list) => {
                        return Err(syn::Error::new_spanned(list, "expected at least one delay"))
                    }
                    other => vec![seconds(other)?],
                };
            }
            "retry_jitter_factor" => {
                let expr: Expr = meta.value()?.parse()?;
                self.retry_jitter_factor = Some(seconds(&expr)?);
                self.task_only.push(("retry_jitter_factor", ident.span()));
            }
            "cache_policy" => {
                let policy: LitStr = meta.value()?.parse()?;
                self.cache_policy = Some(parse_policy(&policy)?);
                self.task_only.push(("cache_policy", ident.span()));
            }
            "cache_key_fn" => {
                self.cache_key_fn = Some(meta.value()?.parse()?);
                self.task_only.push(("cache_key_fn", ident.span()));
            }
            "cache_expiration" => {
                let expr: Expr = meta.value()?.parse()?;
                self.cache_expiration = Some(seconds(&expr)?);
                self.task_only.push(("cache_expiration", ident.span()));
            }
            "refresh_cache" => {
                self.refresh_cache = flag(&meta)?;
                self.task_only.push(("refresh_cache", ident.span()));
            }
            "persist_result" => self.persist_result = Some(flag(&meta)?),
            "log_prints" => self.log_prints = flag(&meta)?,
            "timeout_seconds" => {
                let expr: Expr = meta.value()?.parse()?;
                let value = seconds(&expr)?;
                if value <= 0.0 {
                    return Err(syn::Error::new_spanned(&expr, "a timeout must be positive"));
                }
                self.timeout_seconds = Some((value, meta.path.span_of_ident()));
            }
            _ => {
                return Err(meta.error(format!("unknown option; expected one of: {KNOWN}")));
            }
        }
        Ok(())
    }
}

/// `true` or `false`; a bare `log_prints` means `true`.
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(true);
    }
    let value: LitBool = meta.value()?.parse()?;
    Ok(value.value)
}

/// `"inputs"`, `"inputs+task_source"`, `"default"`, `"none"`...: the parts of the policy.
fn parse_policy(policy: &LitStr) -> syn::Result<Vec<&'static str>> {
    let mut parts: Vec<&'static str> = Vec::new();
    for name in policy.value().split('+').map(str::trim) {
        let Some((_, named)) = POLICIES.iter().find(|(known, _)| *known == name) else {
            let known: Vec<&str> = POLICIES.iter().map(|(k, _)| *k).collect();
            return Err(syn::Error::new_spanned(
                policy,
                format!(
                    "unknown cache policy `{name}`; expected {} (combine with `+`)",
                    known.join(", ")
                ),
            ));
        };
        for part in named.iter() {
            if !parts.contains(part) {
                parts.push(part);
            }
        }
    }
    Ok(parts)
}

fn non_empty(name: LitStr) -> syn::Result<LitStr> {
    if name.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(&name, "a name cannot be empty"));
    }
    Ok(name)
}

/// A non-negative number of seconds: an integer or a float literal.
fn seconds(expr: &Expr) -> syn::Result<f64> {
    let value = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        }) => n.base10_parse::<u64>()? as f64,
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse::<f64>()?,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "expected a number of seconds, e.g. `5` or `0.5`",
            ))
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(syn::Error::new_spanned(
            expr,
            "seconds must be a finite, non-negative number",
        ));
    }
    Ok(value)
}

trait SpanOfIdent {
    fn span_of_ident(&self) -> Span;
}

impl SpanOfIdent for syn::Path {
    fn span_of_ident(&self) -> Span {
        self.get_ident().map_or_else(Span::call_site, |i| i.span())
    }
}

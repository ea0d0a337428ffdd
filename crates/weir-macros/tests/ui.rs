//! Compile-error tests: each `tests/ui/*.rs` must fail to compile with the `.stderr` beside it.
//! Regenerate the expectations with `TRYBUILD=overwrite cargo nextest run -p weir-macros`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

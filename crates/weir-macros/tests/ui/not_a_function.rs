use weir_sdk::flow;

#[flow]
struct Pipeline;

fn main() {}

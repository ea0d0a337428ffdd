use weir_sdk::flow;

#[flow(cache_expiration = 60)]
async fn nightly() {}

fn main() {}

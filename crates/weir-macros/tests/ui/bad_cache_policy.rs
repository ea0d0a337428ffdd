use weir_sdk::task;

#[task(cache_policy = "inputs+colour")]
async fn double(n: u32) -> u32 {
    n * 2
}

fn main() {}

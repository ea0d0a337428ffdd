use weir_sdk::task;

#[task(timeout_seconds = 5)]
fn blocking() -> u32 {
    1
}

fn main() {}

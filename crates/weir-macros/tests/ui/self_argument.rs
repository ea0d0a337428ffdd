use weir_sdk::task;

struct Worker;

impl Worker {
    #[task]
    async fn work(&self) -> u32 {
        1
    }
}

fn main() {}

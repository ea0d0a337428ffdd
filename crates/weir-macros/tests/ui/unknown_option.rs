use weir_sdk::task;

#[task(retries = 1, colour = "blue")]
async fn paint() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}

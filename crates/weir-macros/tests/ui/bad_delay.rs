use weir_sdk::task;

#[task(retries = 2, retry_delay_seconds = [1, "soon"])]
async fn wait() -> anyhow::Result<()> {
    Ok(())
}

fn main() {}

use weir_sdk::Block;

#[derive(Block)]
#[block(slug = "My Block")]
struct Settings {
    retries: u32,
}

fn main() {}

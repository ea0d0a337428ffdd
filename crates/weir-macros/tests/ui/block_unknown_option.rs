use weir_sdk::Block;

#[derive(Block)]
struct Settings {
    #[block(hidden)]
    token: String,
}

fn main() {}

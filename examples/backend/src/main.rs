//! `cargo run -p ward-example-backend -- [ADDR]` (default `127.0.0.1:9000`): the example
//! backend, to be put behind `ward server` with a `[[routes]]` entry or behind nginx with ward's
//! forward-auth (see docs/proxy.md).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "example backend listening on http://{}",
        listener.local_addr()?
    );
    ward_example_backend::serve(listener, ward_example_backend::Counters::default()).await
}

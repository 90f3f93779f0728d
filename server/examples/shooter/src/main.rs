//! The shooter's server: the stock Tickroom command line (every flag, environment variable,
//! probe and page) serving this crate's game, and its page at `/shooter/`.

use axum::response::Html;
use axum::routing::get;

const PAGE: &str = include_str!("../page/index.html");

fn main() -> anyhow::Result<()> {
    let catalog = tickroom_engine::Catalog::new().with(tickroom_example_shooter::Shooter);
    let page = axum::Router::new().route("/shooter/", get(|| async { Html(PAGE) }));
    tickroom_server::cli::run_with(catalog, |server| server.routes(page))
}

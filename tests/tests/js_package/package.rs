//! Builds `@tickroom/client` with npm and runs its strict type check and its own tests
//! (conformance vectors, state callbacks, prediction, interpolation, bundle-size budget); the
//! browser bundle the server serves to its demo page is what this build makes.

use tickroom_tests::npm;

#[test]
fn the_package_type_checks_and_passes_its_tests() {
    let dir = tickroom_tests::client_package_dir();
    npm::ci(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    npm::run(&dir, "check").unwrap_or_else(|e| panic!("{e:#}"));
    npm::run(&dir, "test").unwrap_or_else(|e| panic!("{e:#}"));
    let built = std::fs::read(dir.join("dist/tickroom.browser.js")).expect("the bundle");
    let served = dir.join("../../server/assets/demo/tickroom.js");
    if std::env::var_os("TICKROOM_BLESS").is_some() {
        std::fs::write(&served, &built).expect("write the served bundle");
    }
    assert!(
        std::fs::read(&served).unwrap_or_default() == built,
        "server/assets/demo/tickroom.js (served at /demo/tickroom.js) is not the bundle of the \
         current source: run `TICKROOM_BLESS=1 cargo test -p tickroom-tests --test js_package` \
         and commit it"
    );
}

//! Builds `@tickroom/client` with npm and runs its strict type check and its own tests
//! (conformance vectors, state callbacks, prediction, interpolation, bundle-size budget).

use tickroom_tests::npm;

#[test]
fn the_package_type_checks_and_passes_its_tests() {
    let dir = tickroom_tests::client_package_dir();
    npm::ci(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    npm::run(&dir, "check").unwrap_or_else(|e| panic!("{e:#}"));
    npm::run(&dir, "test").unwrap_or_else(|e| panic!("{e:#}"));
}

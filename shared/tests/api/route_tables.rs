//! The route tables cannot drift: `shared::routes` (served by the local server), the function
//! crates, template.yaml (API Gateway), the `cargo lambda watch` router and openapi.yaml all
//! list the same functions, methods and paths.

use std::collections::BTreeSet;
use std::path::PathBuf;

use shared::routes::{self, ROUTES};
use yaml_rust2::{Yaml, YamlLoader};

type RouteSet = BTreeSet<(String, String, String)>; // (function, METHOD, path)

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn yaml(path: &str) -> Yaml {
    YamlLoader::load_from_str(&repo_file(path))
        .unwrap()
        .remove(0)
}

fn expected() -> RouteSet {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.function.to_owned(),
                r.method.to_string(),
                r.path.to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_route_has_its_own_function_crate_serving_that_endpoint() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let crates: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "local-api")
        .collect();
    let functions: BTreeSet<String> = ROUTES.iter().map(|r| r.function.to_owned()).collect();
    assert_eq!(crates, functions);
    for route in ROUTES {
        let main = repo_file(&format!("functions/{}/src/main.rs", route.function));
        assert!(
            main.contains(&format!("Endpoint::{:?})", route.endpoint)),
            "functions/{} does not serve {:?}",
            route.function,
            route.endpoint
        );
    }
}

#[test]
fn template_yaml_has_one_function_per_route_at_its_method_and_path() {
    let template = yaml("template.yaml");
    let mut found = RouteSet::new();
    for (_, resource) in template["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let code_uri = props["CodeUri"].as_str().unwrap();
        let function = code_uri
            .strip_prefix("functions/")
            .expect("CodeUri under functions/");
        assert_eq!(
            resource["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        let events = props["Events"].as_hash().unwrap();
        assert_eq!(events.len(), 1, "{function} has exactly one event");
        let event = events.values().next().unwrap();
        assert_eq!(event["Type"].as_str(), Some("Api"));
        assert_eq!(event["Properties"]["RestApiId"].as_str(), Some("ChatApi"));
        let method = event["Properties"]["Method"]
            .as_str()
            .unwrap()
            .to_uppercase();
        let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
        assert!(
            found.insert((function.to_owned(), method, path)),
            "{function} twice"
        );
    }
    assert_eq!(found, expected());
}

#[test]
fn cargo_lambda_watch_router_matches_the_routes() {
    let manifest: toml::Table = repo_file("Cargo.toml").parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut found = RouteSet::new();
    for (path, targets) in router {
        for target in targets.as_array().unwrap() {
            found.insert((
                target["function"].as_str().unwrap().to_owned(),
                target["method"].as_str().unwrap().to_owned(),
                path.clone(),
            ));
        }
    }
    assert_eq!(found, expected());
}

#[test]
fn the_local_server_routes_every_template_route_to_its_function() {
    for (function, method, path) in expected() {
        let endpoint = routes::find(&method.parse().unwrap(), &path).unwrap();
        assert_eq!(endpoint.route().function, function);
    }
}

#[test]
fn openapi_yaml_documents_every_route_and_no_other() {
    let spec = yaml("openapi.yaml");
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut found = BTreeSet::new();
    for (path, operations) in spec["paths"].as_hash().unwrap() {
        for (method, _) in operations.as_hash().unwrap() {
            found.insert((
                method.as_str().unwrap().to_uppercase(),
                path.as_str().unwrap().to_owned(),
            ));
        }
    }
    let wanted: BTreeSet<_> = expected().into_iter().map(|(_, m, p)| (m, p)).collect();
    assert_eq!(found, wanted);
}

//! The route tables cannot drift: `shared::routes` (served by the local server), the function
//! crates, template.yaml (API Gateway), the `cargo lambda watch` router and openapi.yaml all
//! list the same functions, methods and paths.

use std::collections::BTreeSet;
use std::path::PathBuf;

use shared::routes::{self, ROUTES};
use yaml_rust2::{Yaml, YamlLoader};

type RouteSet = BTreeSet<(String, String, String)>; // (function, METHOD, path)

/// The function serving the explorer page (`shared::web`) rather than an API endpoint.
const WEB: &str = "web";

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
fn every_route_has_its_own_function_crate_serving_that_endpoint_with_its_handler() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let crates: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "local-api" && name != WEB)
        .collect();
    let functions: BTreeSet<String> = ROUTES.iter().map(|r| r.function.to_owned()).collect();
    assert_eq!(crates, functions);
    for route in ROUTES {
        // The endpoint and its handler, passed statically: the binary links no other handler.
        let main: String = repo_file(&format!("functions/{}/src/main.rs", route.function))
            .split_whitespace()
            .collect::<String>()
            .replace(",)", ")");
        let call = format!(
            "lambda::run(shared::Endpoint::{:?},shared::handlers::{})",
            route.endpoint,
            route.function.replace('-', "_")
        );
        assert!(
            main.contains(&call),
            "functions/{} does not call {call}",
            route.function
        );
    }
}

/// template.yaml's API functions as (crate under `functions/`, resource): all but the page's.
fn template_functions(template: &Yaml) -> Vec<(String, &Yaml)> {
    all_template_functions(template)
        .into_iter()
        .filter(|(function, _)| function != WEB)
        .collect()
}

fn all_template_functions(template: &Yaml) -> Vec<(String, &Yaml)> {
    template["Resources"]
        .as_hash()
        .unwrap()
        .values()
        .filter(|resource| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|resource| {
            let code_uri = resource["Properties"]["CodeUri"].as_str().unwrap();
            let function = code_uri
                .strip_prefix("functions/")
                .expect("CodeUri under functions/");
            (function.to_owned(), resource)
        })
        .collect()
}

/// The managed policies (`!Ref` names and ARNs) of a function's role (`Role: !GetAtt X.Arn`).
fn role_policies(template: &Yaml, function: &Yaml) -> BTreeSet<String> {
    let role = function["Properties"]["Role"]
        .as_str()
        .and_then(|role| role.strip_suffix(".Arn"))
        .expect("Role: !GetAtt <role>.Arn");
    let role = &template["Resources"][role];
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    role["Properties"]["ManagedPolicyArns"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|policy| policy.as_str().map(str::to_owned))
        .collect()
}

/// Each function has two events on its path: its own method, and ANY (so that API Gateway hands
/// it OPTIONS preflights and wrong methods, which it answers 405 with Allow).
#[test]
fn template_yaml_has_one_function_per_route_at_its_method_and_path() {
    let template = yaml("template.yaml");
    let mut found = RouteSet::new();
    for (function, resource) in template_functions(&template) {
        assert_eq!(
            resource["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        let events = resource["Properties"]["Events"].as_hash().unwrap();
        assert_eq!(events.len(), 2, "{function} has exactly two events");
        let mut methods = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for event in events.values() {
            assert_eq!(event["Type"].as_str(), Some("Api"));
            assert_eq!(event["Properties"]["RestApiId"].as_str(), Some("ChatApi"));
            methods.insert(
                event["Properties"]["Method"]
                    .as_str()
                    .unwrap()
                    .to_uppercase(),
            );
            paths.insert(event["Properties"]["Path"].as_str().unwrap().to_owned());
        }
        assert_eq!(paths.len(), 1, "{function}'s events share one path");
        assert!(methods.remove("ANY"), "{function} has an ANY event");
        assert_eq!(
            methods.len(),
            1,
            "{function} has one event with its own method"
        );
        let method = methods.pop_first().unwrap();
        let path = paths.pop_first().unwrap();
        assert!(
            found.insert((function.clone(), method, path)),
            "{function} twice"
        );
    }
    assert_eq!(found, expected());
}

/// Every function may read the MongoDB URI; all but register may read the token-signing secret.
#[test]
fn template_yaml_lets_only_token_users_read_the_jwt_secret() {
    let template = yaml("template.yaml");
    let functions = template_functions(&template);
    assert_eq!(functions.len(), ROUTES.len());
    for (function, resource) in functions {
        assert!(
            resource["Properties"]["Policies"].is_badvalue(),
            "{function}: Policies would be ignored beside Role"
        );
        let policies = role_policies(&template, resource);
        assert!(
            policies.contains("ReadMongoDbUriPolicy"),
            "{function} cannot read the MongoDB URI"
        );
        let route = ROUTES.iter().find(|r| r.function == function).unwrap();
        assert_eq!(
            policies.contains("ReadJwtSecretPolicy"),
            route.endpoint.needs_tokens(),
            "{function}: JWT secret access"
        );
    }
}

#[test]
fn cargo_lambda_watch_router_matches_the_routes() {
    let manifest: toml::Table = repo_file("Cargo.toml").parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut found = RouteSet::new();
    let mut pages = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().unwrap() {
            if target["function"].as_str() == Some(WEB) {
                assert_eq!(target["method"].as_str(), Some("GET"));
                pages.insert(path.as_str());
                continue;
            }
            found.insert((
                target["function"].as_str().unwrap().to_owned(),
                target["method"].as_str().unwrap().to_owned(),
                path.clone(),
            ));
        }
    }
    assert_eq!(found, expected());
    assert_eq!(pages, shared::web::paths().collect(), "the page's files");
}

/// The page's function serves `/` and each file at the root (`/{file}`) by GET, and holds no
/// role of the API's: it reads no secret.
#[test]
fn template_yaml_serves_the_page_from_the_web_function() {
    let main: String = repo_file("functions/web/src/main.rs")
        .split_whitespace()
        .collect();
    assert!(main.contains("shared::web::run().await"));
    let template = yaml("template.yaml");
    let (_, web) = all_template_functions(&template)
        .into_iter()
        .find(|(function, _)| function == WEB)
        .expect("a web function");
    assert!(web["Properties"]["Role"].is_badvalue());
    let events: BTreeSet<(String, String)> = web["Properties"]["Events"]
        .as_hash()
        .unwrap()
        .values()
        .map(|event| {
            assert_eq!(event["Properties"]["RestApiId"].as_str(), Some("ChatApi"));
            let p = &event["Properties"];
            (
                p["Method"].as_str().unwrap().into(),
                p["Path"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        events,
        BTreeSet::from([("get".into(), "/".into()), ("get".into(), "/{file}".into())])
    );
    for path in shared::web::paths() {
        let file = path.strip_prefix('/').unwrap();
        assert!(!file.contains('/'), "{path} is served by /{{file}}");
    }
}

#[test]
fn the_local_server_routes_every_template_route_to_its_function() {
    for (function, method, path) in expected() {
        let endpoint = routes::find(&path).unwrap();
        assert_eq!(endpoint.route().function, function);
        assert_eq!(endpoint.route().method.as_str(), method);
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

/// Browsers may send every method API Gateway routes: the preflight's list covers them all.
#[test]
fn the_cors_preflight_allows_every_method_of_the_template() {
    let allowed = shared::cors::allowed_methods();
    let allowed: BTreeSet<&str> = allowed.split(", ").collect();
    let template = yaml("template.yaml");
    for (function, resource) in template_functions(&template) {
        for event in resource["Properties"]["Events"].as_hash().unwrap().values() {
            let method = event["Properties"]["Method"]
                .as_str()
                .unwrap()
                .to_uppercase();
            assert!(
                method == "ANY" || allowed.contains(method.as_str()),
                "{function}: {method} missing from {allowed:?}"
            );
        }
    }
    assert!(allowed.contains("OPTIONS"));
}

/// `samconfig.toml`'s deploy overrides name parameters the template has, with values it allows.
#[test]
fn samconfig_overrides_are_template_parameters_within_their_bounds() {
    let template = yaml("template.yaml");
    let config: toml::Table = repo_file("samconfig.toml").parse().unwrap();
    let overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .unwrap();
    let mut named = BTreeSet::new();
    for pair in overrides.split_whitespace() {
        let (name, value) = pair.split_once('=').unwrap();
        let value = value.trim_matches('"');
        let parameter = &template["Parameters"][name];
        assert!(
            !parameter.is_badvalue(),
            "{name} is not a template parameter"
        );
        if parameter["Type"].as_str() == Some("Number") {
            let number: i64 = value.parse().unwrap();
            let min = parameter["MinValue"].as_i64().unwrap_or(i64::MIN);
            let max = parameter["MaxValue"].as_i64().unwrap_or(i64::MAX);
            assert!((min..=max).contains(&number), "{name}={value}");
        }
        if let Some(allowed) = parameter["AllowedValues"].as_vec() {
            let text = |a: &Yaml| {
                a.as_str()
                    .map(str::to_owned)
                    .or(a.as_i64().map(|i| i.to_string()))
            };
            assert!(
                allowed.iter().any(|a| text(a).as_deref() == Some(value)),
                "{name}={value}"
            );
        }
        named.insert(name.to_owned());
    }
    // The connection budget is set where it is deployed, not left to a template default.
    for name in ["MongoDbMaxPoolSize", "ReservedConcurrencyPerFunction"] {
        assert!(named.contains(name), "{name} missing from samconfig.toml");
    }
}

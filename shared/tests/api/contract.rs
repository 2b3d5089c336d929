//! openapi.yaml types each idea once, so that clients generated from it pass what one answer
//! gives straight into the next request: every id, in a request or a response, a body, a query
//! or a list, is the one schema of its kind. (scripts/check-clients.sh proves it end to end
//! with generated Python and TypeScript clients.)

use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

fn spec() -> Yaml {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
    YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .remove(0)
}

/// The schema an id called `name` must be, if `name` names an id.
fn id_schema(name: &str, parameter: bool) -> Option<&'static str> {
    match name {
        "_id" => Some("#/components/schemas/ObjectId"),
        "account_id" => Some("#/components/schemas/AccountId"),
        "response_id" => Some("#/components/schemas/ResponseId"),
        // compare-branches' two members (in its answer, `a` and `b` are the two sides)
        "a" | "b" if parameter => Some("#/components/schemas/ChatId"),
        _ if name.ends_with("_id") => Some("#/components/schemas/ChatId"),
        _ => None,
    }
}

/// Lists of ids: their items are chat ids.
fn is_id_list(name: &str) -> bool {
    name.ends_with("_ids") || name == "shown_in" || name == "active_path"
}

/// A reference to `target`, or a nullable one (`anyOf: [target, null]`).
fn refers_to(schema: &Yaml, target: &str) -> bool {
    if schema["$ref"].as_str() == Some(target) {
        return true;
    }
    match schema["anyOf"].as_vec() {
        Some(options) => {
            options.len() == 2
                && options.iter().any(|o| o["$ref"].as_str() == Some(target))
                && options.iter().any(|o| o["type"].as_str() == Some("null"))
        }
        None => false,
    }
}

/// Walks the whole document, checking every named property and parameter on the way.
fn check(node: &Yaml, at: &str, problems: &mut Vec<String>) {
    if let Some(properties) = node["properties"].as_hash() {
        for (name, schema) in properties {
            let name = name.as_str().unwrap();
            let at = format!("{at}/properties/{name}");
            check_named(name, false, schema, &at, problems);
        }
    }
    if node["in"].as_str().is_some()
        && let Some(name) = node["name"].as_str()
    {
        check_named(
            name,
            true,
            &node["schema"],
            &format!("{at} ({name})"),
            problems,
        );
    }
    match node {
        Yaml::Hash(entries) => {
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                check(value, &format!("{at}/{key}"), problems);
            }
        }
        Yaml::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(item, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

fn check_named(name: &str, parameter: bool, schema: &Yaml, at: &str, problems: &mut Vec<String>) {
    if let Some(target) = id_schema(name, parameter) {
        if !refers_to(schema, target) {
            problems.push(format!("{at} is not {target}"));
        }
    } else if is_id_list(name) && !refers_to(&schema["items"], "#/components/schemas/ChatId") {
        problems.push(format!("{at}: items are not #/components/schemas/ChatId"));
    }
}

#[test]
fn every_id_is_its_one_schema_in_requests_and_responses_alike() {
    let spec = spec();
    let mut problems = Vec::new();
    check(&spec["paths"], "#/paths", &mut problems);
    check(&spec["components"], "#/components", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn only_the_id_schemas_say_uuid() {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml"))
            .unwrap();
    assert_eq!(
        text.matches("format: uuid").count(),
        3,
        "ChatId, AccountId, ResponseId"
    );
    let schemas = &spec()["components"]["schemas"];
    for id in ["ChatId", "AccountId", "ResponseId"] {
        assert_eq!(schemas[id]["format"].as_str(), Some("uuid"), "{id}");
    }
}

#[test]
fn every_operation_is_named_tagged_summarised_and_has_examples() {
    let spec = spec();
    for (path, operations) in spec["paths"].as_hash().unwrap() {
        for (method, operation) in operations.as_hash().unwrap() {
            let at = format!("{} {}", method.as_str().unwrap(), path.as_str().unwrap());
            assert!(
                operation["operationId"].as_str().is_some(),
                "{at}: operationId"
            );
            assert!(operation["summary"].as_str().is_some(), "{at}: summary");
            assert_eq!(
                operation["tags"].as_vec().map(Vec::len),
                Some(1),
                "{at}: one tag"
            );
            let body = &operation["requestBody"]["content"]["application/json"];
            if !body.is_badvalue() {
                assert!(has_examples(body), "{at}: request example");
            }
            let ok = &operation["responses"]["200"]["content"]["application/json"];
            assert!(has_examples(ok), "{at}: response example");
        }
    }
}

fn has_examples(media: &Yaml) -> bool {
    !media["example"].is_badvalue() || media["examples"].as_hash().is_some_and(|e| !e.is_empty())
}

//! The README's `sam local start-api` instructions work as written against template.yaml:
//! its env file sets only variables the template declares (`sam local` silently ignores any
//! other), turns off every SSM lookup (`X_PARAM`) and gives the value it would have fetched
//! (`X`) instead, and the command names that file and any parameter override the template needs.
//! (CI cannot run Docker; scripts/check-lambdas.sh feeds the functions this same env file.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The shell block of the README's "Trying the deployment locally with `sam local`" section.
fn readme_instructions() -> String {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n### Trying the deployment locally with `sam local`")
        .nth(1)
        .expect("README.md: a section on trying the deployment with sam local");
    let block = section.split("```sh\n").nth(1).expect("a ```sh block");
    block.split("\n```").next().unwrap().to_owned()
}

/// The env file the instructions write (`cat > FILE <<JSON ... JSON`) and its path.
fn env_file(instructions: &str) -> (String, serde_json::Value) {
    let (before, rest) = instructions
        .split_once(" <<JSON\n")
        .expect("the env file written with a <<JSON heredoc");
    let path = before.rsplit("cat > ").next().unwrap().trim().to_owned();
    let json = rest.split("\nJSON\n").next().unwrap();
    // The heredoc expands $MONGODB_URI; any other expansion would be a surprise.
    let json = json.replace("$MONGODB_URI", "mongodb://127.0.0.1:27117/?replicaSet=rs0");
    assert!(
        !json.contains('$'),
        "unexpected expansion in the env file: {json}"
    );
    (
        path,
        serde_json::from_str(&json).expect("the env file is JSON"),
    )
}

/// The `sam local start-api` command, its continuation lines joined.
fn start_api_command(instructions: &str) -> Vec<String> {
    let joined = instructions.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|line| line.trim_start().starts_with("sam local start-api"))
        .expect("a `sam local start-api` command");
    let line = line.split(" #").next().unwrap();
    line.split_whitespace().map(str::to_owned).collect()
}

/// The variables template.yaml declares for every function (its Globals): the only ones a
/// `Parameters` entry of the env file can set for all of them.
fn global_variables(template: &Yaml) -> BTreeSet<String> {
    template["Globals"]["Function"]["Environment"]["Variables"]
        .as_hash()
        .map(|h| h.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn the_readme_env_file_sets_only_template_variables_and_turns_every_ssm_lookup_off() {
    let template = YamlLoader::load_from_str(&repo_file("template.yaml"))
        .unwrap()
        .remove(0);
    let global = global_variables(&template);
    let functions: BTreeSet<String> = template["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, _)| id.as_str().unwrap().to_owned())
        .collect();
    let (_, file) = env_file(&readme_instructions());
    let file = file.as_object().expect("an object");
    for (scope, variables) in file {
        assert!(
            scope == "Parameters" || functions.contains(scope),
            "env file: {scope} is neither Parameters nor a function of template.yaml"
        );
        for name in variables.as_object().unwrap().keys() {
            assert!(
                global.contains(name),
                "env file sets {name}, which template.yaml's Globals do not declare: \
                 sam local would ignore it"
            );
        }
    }
    let set = file["Parameters"].as_object().expect("a Parameters object");
    let lookups: Vec<&String> = global.iter().filter(|n| n.ends_with("_PARAM")).collect();
    assert!(!lookups.is_empty(), "template.yaml declares no *_PARAM");
    for lookup in lookups {
        assert_eq!(
            set.get(lookup).and_then(|v| v.as_str()),
            Some(""),
            "the env file must set {lookup} to \"\" (no SSM locally)"
        );
        let value = lookup.strip_suffix("_PARAM").unwrap();
        assert!(
            global.contains(value),
            "template.yaml must declare {value} (empty) for sam local to pass it"
        );
        assert!(
            set.get(value)
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty()),
            "the env file must give {value} in place of {lookup}"
        );
    }
}

#[test]
fn the_readme_start_api_command_uses_the_env_file_the_host_network_and_known_parameters() {
    let template = YamlLoader::load_from_str(&repo_file("template.yaml"))
        .unwrap()
        .remove(0);
    let instructions = readme_instructions();
    let (path, _) = env_file(&instructions);
    let args = start_api_command(&instructions);
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    assert_eq!(value_of("--env-vars"), Some(path), "{args:?}");
    assert_eq!(value_of("--docker-network").as_deref(), Some("host"));

    let parameters = template["Parameters"].as_hash().unwrap();
    let overridden: BTreeSet<String> = match args.iter().position(|a| a == "--parameter-overrides")
    {
        None => BTreeSet::new(),
        Some(i) => args[i + 1..]
            .iter()
            .take_while(|a| !a.starts_with("--"))
            .map(|a| a.split('=').next().unwrap().to_owned())
            .collect(),
    };
    for name in &overridden {
        assert!(
            parameters.contains_key(&Yaml::String(name.clone())),
            "--parameter-overrides names {name}, which template.yaml does not have"
        );
    }
    for (name, parameter) in parameters {
        let name = name.as_str().unwrap();
        assert!(
            !parameter["Default"].is_badvalue() || overridden.contains(name),
            "template parameter {name} has no default: the sam local command must override it"
        );
    }
}

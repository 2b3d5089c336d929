//! Converts `openapi.yaml` into the JSON the web function serves at `/openapi.json`, so the
//! served schema is always the contract itself, never a second copy. Keys keep their order.

use std::fmt::Write;

use yaml_rust2::{Yaml, YamlLoader};

fn main() {
    println!("cargo:rerun-if-changed=../openapi.yaml");
    let yaml = std::fs::read_to_string("../openapi.yaml").expect("../openapi.yaml");
    let docs = YamlLoader::load_from_str(&yaml).expect("openapi.yaml is valid YAML");
    let mut json = String::new();
    write_json(&docs[0], &mut json);
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("openapi.json");
    std::fs::write(out, json).unwrap();
}

fn write_json(value: &Yaml, out: &mut String) {
    let string = |s: &str| serde_json::to_string(s).unwrap();
    match value {
        Yaml::Null => out.push_str("null"),
        Yaml::Boolean(b) => write!(out, "{b}").unwrap(),
        Yaml::Integer(i) => write!(out, "{i}").unwrap(),
        Yaml::Real(r) => {
            let number: f64 = r
                .parse()
                .unwrap_or_else(|_| panic!("{r} is not a JSON number"));
            out.push_str(&serde_json::to_string(&number).unwrap());
        }
        Yaml::String(s) => out.push_str(&string(s)),
        Yaml::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Yaml::Hash(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => panic!("openapi.yaml: unsupported key {other:?}"),
                };
                out.push_str(&string(&key));
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        other => panic!("openapi.yaml: unsupported value {other:?}"),
    }
}

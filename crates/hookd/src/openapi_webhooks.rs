//! The event types an OpenAPI document's `webhooks` (or, lacking them,
//! `components.schemas`) describe, with their schemas made to stand alone.
//! The server's `event-type/import/openapi` and the CLI's `event-type
//! import` share it.

use serde_json::{Map, Value};

/// One event type found in a document.
#[derive(Debug)]
pub struct Found {
    pub name: String,
    pub description: String,
    pub deprecated: bool,
    pub schema: Value,
}

/// The event types an OpenAPI document describes; an error says why none.
pub fn event_types_in(doc: &Value) -> Result<Vec<Found>, String> {
    let components = &doc["components"]["schemas"];
    let mut found = Vec::new();
    if let Some(hooks) = doc["webhooks"].as_object().filter(|h| !h.is_empty()) {
        for (hook, item) in hooks {
            let op = &item["post"];
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let description = op["description"]
                .as_str()
                .or(op["summary"].as_str())
                .unwrap_or_default();
            found.push(Found {
                name: hook.clone(),
                description: description.to_owned(),
                deprecated: op["deprecated"].as_bool().unwrap_or(false),
                schema: inline_refs(schema, components, 0)?,
            });
        }
    } else if let Some(schemas) = components.as_object() {
        for (schema_name, schema) in schemas {
            found.push(Found {
                name: schema_name.clone(),
                description: schema["description"].as_str().unwrap_or_default().to_owned(),
                deprecated: schema["deprecated"].as_bool().unwrap_or(false),
                schema: inline_refs(schema, components, 0)?,
            });
        }
    }
    if found.is_empty() {
        return Err("the document has no webhooks and no components.schemas".into());
    }
    Ok(found)
}

/// The schema with each `#/components/schemas/…` reference replaced by what
/// it names, so that it stands on its own as an event type's schema.
fn inline_refs(schema: &Value, components: &Value, depth: usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("schemas refer to each other in a cycle".into());
    }
    Ok(match schema {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                let name = target
                    .strip_prefix("#/components/schemas/")
                    .ok_or_else(|| format!("cannot follow the reference {target}"))?;
                let named = components.get(name).ok_or_else(|| format!("no schema named {name}"))?;
                return inline_refs(named, components, depth + 1);
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), inline_refs(v, components, depth + 1)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| inline_refs(i, components, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn webhooks_of_an_openapi_document_become_event_types_with_their_schemas_inlined() {
        let doc = json!({
            "openapi": "3.1.0",
            "webhooks": {
                "user.created": { "post": {
                    "summary": "A user signed up",
                    "requestBody": { "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/User" } } } } } }
            },
            "components": { "schemas": {
                "User": { "type": "object", "properties": { "address": { "$ref": "#/components/schemas/Address" } } },
                "Address": { "type": "string" }
            } }
        });
        let found = event_types_in(&doc).expect("found");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "user.created");
        assert_eq!(found[0].description, "A user signed up");
        assert_eq!(found[0].schema["properties"]["address"], json!({ "type": "string" }));
    }

    #[test]
    fn a_cycle_of_references_is_refused() {
        let doc = json!({
            "openapi": "3.1.0",
            "components": { "schemas": { "Node": { "properties": { "next": { "$ref": "#/components/schemas/Node" } } } } }
        });
        assert!(event_types_in(&doc).is_err());
    }
}

//! What the OpenAPI document says about every route at once, so no route can forget it: the
//! error answers the middleware and extractors give any route (a missing token, a malformed
//! body, a throttled caller, a database that is restarting), and a description for each
//! answer (OpenAPI requires one). Also where utoipa's output says less or other than serde
//! does (flattened structs, below).

use serde_json::Value;

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

/// The document as generated, completed and corrected.
pub fn complete(mut doc: OpenApi) -> OpenApi {
    document_common_answers(&mut doc);
    let mut json = serde_json::to_value(&doc).expect("an OpenAPI document serializes");
    open_flattened_parts(&mut json);
    serde_json::from_value(json).expect("the corrected document is still an OpenAPI document")
}

/// A struct flattened into another (`#[serde(flatten)]`) becomes an `allOf` member; if that
/// struct refuses unknown fields on input (`additionalProperties: false`), the composition would
/// refuse the outer struct's own fields, which serde accepts and sends. Such members are inlined
/// without the restriction.
fn open_flattened_parts(doc: &mut Value) {
    let Some(schemas) = doc.pointer("/components/schemas").and_then(Value::as_object).cloned() else { return };
    let closed = |reference: &str| -> Option<Value> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        let schema = schemas.get(name)?;
        (schema.get("additionalProperties") == Some(&Value::Bool(false))).then(|| {
            let mut open = schema.clone();
            open.as_object_mut().expect("a closed schema is an object").remove("additionalProperties");
            open
        })
    };
    fn visit(value: &mut Value, closed: &dyn Fn(&str) -> Option<Value>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(members)) = map.get_mut("allOf") {
                    for member in members.iter_mut() {
                        if let Some(open) = member.get("$ref").and_then(Value::as_str).and_then(closed) {
                            *member = open;
                        }
                    }
                }
                map.values_mut().for_each(|v| visit(v, closed));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| visit(v, closed)),
            _ => {}
        }
    }
    visit(doc, &closed);
}

/// Adds the answers any operation may give to every operation that does not document them.
fn document_common_answers(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            add_common_answers(operation);
        }
    }
}

fn add_common_answers(operation: &mut Operation) {
    let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = operation.request_body.is_some();
    let mut answers: Vec<(&str, &str)> = vec![
        ("408", "The request took longer than the server allows (`request_timeout`)"),
        ("429", "Too many requests from this credential or address (`too_many_requests`); see `Retry-After`"),
        ("503", "The database is unavailable (`database_unavailable`); retry after `Retry-After` seconds"),
    ];
    if authenticated {
        answers.push(("401", "No credential, or one that is invalid, expired or revoked"));
        answers.push(("403", "Your role may not do this (`forbidden`)"));
    }
    if has_parameters || has_body {
        answers.push(("400", "A malformed path, query or body"));
    }
    if has_body {
        answers.push(("413", "The body is larger than the limit (`payload_too_large`)"));
        answers.push(("415", "The body is not of the documented content type"));
        answers.push(("422", "The body is well formed but invalid (`validation_failed`, naming the field)"));
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in answers {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(api_error(description)));
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = default_description(status).to_owned();
        }
    }
}

fn api_error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ApiError"))))
        .build()
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "206" => "Part of the content",
        "400" => "A malformed request",
        "401" => "Not authenticated",
        "403" => "Forbidden",
        "404" => "Not found, or not visible to you",
        "409" => "Conflicts with the stored state",
        "413" => "Too large",
        "415" => "Unsupported content type",
        "416" => "Range not satisfiable",
        "422" => "Invalid input",
        "429" => "Too many requests",
        _ => "See the status code",
    }
}

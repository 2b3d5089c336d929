//! Start-up: the secrets come from SSM in one call that rides out throttling. AWS is out of
//! reach here, so a loopback endpoint speaks SSM's JSON protocol: it refuses the first calls
//! as SSM does under a burst of cold starts, then answers.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use shared::secrets;

/// An SSM endpoint that throttles the first `throttled` calls, then serves `parameters`.
/// Returns its URL and the number of calls it has seen.
async fn ssm(throttled: usize, parameters: Value) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (calls, parameters) = (calls.clone(), parameters.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (calls, parameters) = (calls.clone(), parameters.clone());
                    async move {
                        let target = request.headers()["x-amz-target"]
                            .to_str()
                            .unwrap()
                            .to_owned();
                        let body: Value = serde_json::from_slice(
                            &request.into_body().collect().await.unwrap().to_bytes(),
                        )
                        .unwrap();
                        assert_eq!(target, "AmazonSSM.GetParameters");
                        assert_eq!(body["WithDecryption"], true);
                        let (status, answer) = if calls.fetch_add(1, Ordering::SeqCst) < throttled {
                            (
                                400,
                                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                            )
                        } else {
                            let wanted: Vec<&str> = body["Names"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|n| n.as_str().unwrap())
                                .collect();
                            let found: Vec<&Value> = parameters
                                .as_array()
                                .unwrap()
                                .iter()
                                .filter(|p| wanted.contains(&p["Name"].as_str().unwrap()))
                                .collect();
                            let invalid: Vec<&&str> = wanted
                                .iter()
                                .filter(|n| !found.iter().any(|p| p["Name"] == ***n))
                                .collect();
                            (
                                200,
                                json!({"Parameters": found, "InvalidParameters": invalid}),
                            )
                        };
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-amz-json-1.1")
                            .body(Full::new(Bytes::from(answer.to_string())))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn client(url: &str) -> aws_sdk_ssm::Client {
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    secrets::ssm_client(
        aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(url),
    )
}

fn secure(name: &str, value: &str) -> Value {
    json!({"Name": name, "Type": "SecureString", "Value": value, "Version": 1})
}

#[tokio::test]
async fn both_secrets_arrive_in_one_call_that_rides_out_throttling() {
    let (url, calls) = ssm(
        3,
        json!([
            secure("/app/mongodb-uri", "mongodb+srv://u:p@cluster.example/"),
            secure("/app/jwt", "s3cret-s3cret-s3cret-s3cret-s3cret!"),
        ]),
    )
    .await;
    let values = secrets::fetch(&client(&url), &["/app/mongodb-uri", "/app/jwt"])
        .await
        .unwrap();
    assert_eq!(
        values["/app/mongodb-uri"],
        "mongodb+srv://u:p@cluster.example/"
    );
    assert_eq!(values["/app/jwt"], "s3cret-s3cret-s3cret-s3cret-s3cret!");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "three throttled, then one answered"
    );
}

#[tokio::test]
async fn a_missing_parameter_stops_start_up_naming_it() {
    let (url, _) = ssm(0, json!([secure("/app/jwt", "x".repeat(40).as_str())])).await;
    let error = secrets::fetch(&client(&url), &["/app/mongodb-uri", "/app/jwt"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("/app/mongodb-uri"), "{error}");
}

#[tokio::test]
async fn endless_throttling_fails_start_up_instead_of_hanging() {
    let (url, calls) = ssm(usize::MAX, json!([])).await;
    let error = secrets::fetch(&client(&url), &["/app/jwt"])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Throttling"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 6, "the attempt limit");
}

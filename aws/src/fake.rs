//! Scripted stand-ins for the AWS services, for unit tests that run with no emulator and no
//! network (feature `fake`; always on in this crate's own tests).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;

/// Error metadata as a service's answer carries it: a code and a message.
pub fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// A service's answer `err` with HTTP `status`, as the SDK hands it over.
pub fn service_error<E>(status: u16, err: E) -> SdkError<E, HttpResponse> {
    let status = StatusCode::try_from(status).unwrap_or_else(|_| {
        StatusCode::try_from(500).unwrap_or_else(|_| unreachable!("500 is a valid status"))
    });
    SdkError::service_error(err, HttpResponse::new(status, SdkBody::empty()))
}

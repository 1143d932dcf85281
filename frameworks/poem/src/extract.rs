//! poem-openapi payload types for the contract: the request body (headers checked by the
//! shared rules, read under the 1 MiB limit) and pre-encoded responses.

use bytes::Bytes;
use poem::http::header;
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, payload::Payload};
use workloads::{ApiError, BODY_LIMIT};

use crate::AppError;

fn object_schema() -> MetaSchemaRef {
    // The body's rules live in workloads and docs/contract.md; the document names the type only.
    MetaSchemaRef::Inline(Box::new(MetaSchema::new("object")))
}

/// Raw JSON bytes, not yet parsed: parsing and validation are the shared decode's job.
#[derive(Debug)]
pub struct JsonBody(pub Bytes);

impl Payload for JsonBody {
    const CONTENT_TYPE: &'static str = "application/json";

    /// The shared rules decide (case-insensitive, parameters allowed) and answer 415 in the
    /// contract's shape, so poem-openapi's own content-type rejection must not run first.
    fn check_content_type(_: &str) -> bool {
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        object_schema()
    }
}

impl<'a> ApiExtractor<'a> for JsonBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let h = request.headers();
        workloads::http::check_post_headers(
            h.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            h.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()),
        )
        .map_err(AppError)?;
        let read = body.take()?.into_bytes_limit(BODY_LIMIT).await;
        match read {
            Ok(bytes) => Ok(JsonBody(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                Err(AppError(ApiError::PayloadTooLarge { limit: BODY_LIMIT }).into())
            }
            Err(e) => Err(AppError(ApiError::InvalidJson { msg: format!("could not read the body: {e}") }).into()),
        }
    }
}

/// A 200 response whose body is already encoded (by `workloads::to_json`, the same for
/// every target) or is a stream.
#[derive(Debug)]
pub struct Encoded<const SSE: bool>(pub Body);

/// JSON bytes.
pub type RawJson = Encoded<false>;
/// A `text/event-stream` body.
pub type EventStream = Encoded<true>;

impl<const SSE: bool> Encoded<SSE> {
    pub fn new(body: impl Into<Body>) -> Self {
        Self(body.into())
    }
}

impl<const SSE: bool> Payload for Encoded<SSE> {
    const CONTENT_TYPE: &'static str = if SSE { "text/event-stream" } else { "application/json" };

    fn schema_ref() -> MetaSchemaRef {
        if SSE { MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))) } else { object_schema() }
    }
}

impl<const SSE: bool> IntoResponse for Encoded<SSE> {
    fn into_response(self) -> Response {
        let r = Response::builder().content_type(Self::CONTENT_TYPE);
        let r = if SSE { r.header(header::CACHE_CONTROL, "no-cache") } else { r };
        r.body(self.0)
    }
}

impl<const SSE: bool> ApiResponse for Encoded<SSE> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(_: &mut Registry) {}
}

/// The gateway's 200: the re-labelled event stream or the upstream's JSON, as the
/// request's `stream` says; documented as one 200 with both content types.
#[derive(Debug)]
pub enum ChatAnswer {
    Stream(EventStream),
    Json(RawJson),
}

impl IntoResponse for ChatAnswer {
    fn into_response(self) -> Response {
        match self {
            ChatAnswer::Stream(s) => s.into_response(),
            ChatAnswer::Json(j) => j.into_response(),
        }
    }
}

impl ApiResponse for ChatAnswer {
    fn meta() -> MetaResponses {
        let media = |content_type, schema| MetaMediaType { content_type, schema };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![
                    media(RawJson::CONTENT_TYPE, RawJson::schema_ref()),
                    media(EventStream::CONTENT_TYPE, EventStream::schema_ref()),
                ],
                headers: vec![],
            }],
        }
    }

    fn register(_: &mut Registry) {}
}

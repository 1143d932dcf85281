//! Header rules shared by every target, applied before the body is read: content type
//! first (415), then an announced Content-Length above the limit (413).

use crate::contract::BODY_LIMIT;
use crate::error::ApiError;

/// `application/json`, case-insensitive, with any parameters (`; charset=utf-8`).
pub fn is_json_content_type(value: &[u8]) -> bool {
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(b"application/json")
}

/// The checks a POST endpoint makes on headers alone.
pub fn check_post_headers(content_type: Option<&[u8]>, content_length: Option<&[u8]>) -> Result<(), ApiError> {
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let announced = content_length.and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_matching() {
        for ok in ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8", " application/json ;x=y"]
        {
            assert!(is_json_content_type(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "text/plain", "application/jsonx", "application/json-patch+json", "application"] {
            assert!(!is_json_content_type(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn header_order_is_415_then_413() {
        assert_eq!(check_post_headers(None, Some(b"99999999")), Err(ApiError::UnsupportedMediaType));
        let too_big = (BODY_LIMIT + 1).to_string();
        assert_eq!(
            check_post_headers(Some(b"application/json"), Some(too_big.as_bytes())),
            Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT })
        );
        let exact = BODY_LIMIT.to_string();
        assert_eq!(check_post_headers(Some(b"application/json"), Some(exact.as_bytes())), Ok(()));
    }
}

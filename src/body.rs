//! Body helpers shared by every module that builds responses.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

use crate::upstream::{Body, BoxError};

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Reads a whole body, refusing more than `limit` bytes. (A hand-written
/// loop rather than `Limited::collect`: over a boxed body that one trips a
/// compiler limitation that makes the calling future non-`Send`.)
pub async fn collect_limited(body: Body, limit: usize) -> Result<Bytes, String> {
    read_whole(body, limit).await.map_err(|e| match e {
        ReadError::TooLarge => format!("body exceeds {limit} bytes"),
        ReadError::Body(e) => e.to_string(),
    })
}

/// Why [`read_whole`] gave up.
#[derive(Debug)]
pub enum ReadError<E> {
    /// More than the limit: declared up front, or sent.
    TooLarge,
    Body(E),
}

/// Reads a whole body of at most `limit` bytes. A body that arrives in one
/// frame, as most JSON does, is returned as it is: no buffer, no copy.
pub async fn read_whole<B>(mut body: B, limit: usize) -> Result<Bytes, ReadError<B::Error>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut first = Bytes::new();
    let mut joined: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(ReadError::Body)?.into_data() else {
            continue;
        };
        let len = joined.as_ref().map_or(first.len(), |j| j.len()) + data.len();
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        match &mut joined {
            Some(joined) => joined.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut both = bytes::BytesMut::with_capacity(len);
                both.extend_from_slice(&first);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(first, bytes::BytesMut::freeze))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    type Frame = Result<http_body::Frame<Bytes>, &'static str>;
    type Frames = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Frame>>>;

    fn body(frames: Vec<Frame>) -> Frames {
        StreamBody::new(futures_util::stream::iter(frames))
    }

    fn data(s: &'static str) -> Frame {
        Ok(http_body::Frame::data(Bytes::from_static(s.as_bytes())))
    }

    #[tokio::test]
    async fn one_frame_is_returned_without_a_copy() {
        let only = Bytes::from_static(b"{\"a\":1}");
        let at = only.as_ptr();
        let whole = read_whole(Full::new(only), 100).await.unwrap();
        assert_eq!((whole.as_ptr(), &whole[..]), (at, &b"{\"a\":1}"[..]));
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_skipped() {
        let trailers = Ok(http_body::Frame::trailers(http::HeaderMap::new()));
        let frames = vec![data("ab"), data(""), data("cd"), trailers, data("e")];
        assert_eq!(&read_whole(body(frames), 5).await.unwrap()[..], b"abcde");
    }

    #[tokio::test]
    async fn more_than_the_limit_is_refused_sent_or_declared() {
        let sent = read_whole(body(vec![data("abc"), data("de")]), 4).await;
        assert!(matches!(sent, Err(ReadError::TooLarge)), "{sent:?}");
        let declared = read_whole(Full::new(Bytes::from_static(b"abcde")), 4).await;
        assert!(matches!(declared, Err(ReadError::TooLarge)), "{declared:?}");
        let broken = read_whole(body(vec![data("ab"), Err("reset")]), 9).await;
        assert!(
            matches!(broken, Err(ReadError::Body("reset"))),
            "{broken:?}"
        );
    }
}

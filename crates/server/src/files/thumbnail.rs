//! Image processing: dimensions and a small PNG thumbnail of the image types we can decode.
//! Runs on a blocking thread (decoding is CPU work) within memory limits, and only ever reads the
//! original: a failure here leaves the stored file as it was.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 256;
/// Images whose stored size is larger are not decoded at all: no thumbnail, no dimensions.
pub const MAX_DECODED_FILE: u64 = 32 * 1024 * 1024;
/// Most memory one decode may use; a 12000x8000 RGBA photo needs ~384 MB, which is refused.
const MAX_DECODE_ALLOC: u64 = 192 * 1024 * 1024;
const MAX_SIDE: u32 = 16_384;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub width: u32,
    pub height: u32,
    /// PNG bytes of the thumbnail.
    pub thumbnail: Bytes,
}

/// Whether `content_type` is one we try to make a thumbnail of.
pub fn is_processable(content_type: &str) -> bool {
    ImageFormat::from_mime_type(content_type)
        .is_some_and(|f| matches!(f, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Bmp))
}

/// Decodes `content` and makes its thumbnail. Blocking: call through `spawn_blocking`.
pub fn process(content: &[u8]) -> Result<Processed, String> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    let mut reader = ImageReader::new(Cursor::new(content)).with_guessed_format().map_err(|err| err.to_string())?;
    reader.limits(limits);
    let image = reader.decode().map_err(|err| format!("cannot decode the image: {err}"))?;
    // `thumbnail` scales to fit the box either way; small images are kept at their size.
    let thumbnail = if image.width() <= THUMBNAIL_SIDE && image.height() <= THUMBNAIL_SIDE {
        image.clone()
    } else {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    };
    let mut png = Cursor::new(Vec::new());
    thumbnail.write_to(&mut png, ImageFormat::Png).map_err(|err| format!("cannot encode the thumbnail: {err}"))?;
    Ok(Processed { width: image.width(), height: image.height(), thumbnail: Bytes::from(png.into_inner()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn thumbnails_keep_the_aspect_ratio() {
        let processed = process(&png(1024, 512)).unwrap();
        assert_eq!((processed.width, processed.height), (1024, 512));
        let thumb = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (256, 128));
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let processed = process(&png(40, 30)).unwrap();
        let thumb = image::load_from_memory(&processed.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (40, 30));
    }

    #[test]
    fn broken_images_fail_without_panicking() {
        let mut truncated = png(64, 64);
        truncated.truncate(60);
        assert!(process(&truncated).is_err());
        assert!(process(b"not an image").is_err());
    }

    #[test]
    fn processable_types() {
        assert!(is_processable("image/png"));
        assert!(is_processable("image/jpeg"));
        assert!(!is_processable("application/pdf"));
        assert!(!is_processable("image/svg+xml"));
    }
}

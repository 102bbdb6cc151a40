//! What an upload really is: the type sniffed from its first bytes, checked against its name
//! and the type the client declared, and against the list of blocked types.

use crate::files::names;

/// Bytes of the start of a file kept for sniffing; every signature `infer` knows fits.
pub const SNIFF_LEN: usize = 8192;

/// Why an upload's type is refused (both answer 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRejection {
    Blocked { what: String },
    Mismatch { message: String },
}

/// The configured list of blocked types: MIME types, and `.ext` name extensions.
#[derive(Debug, Clone, Default)]
pub struct BlockedTypes {
    mime_types: Vec<String>,
    extensions: Vec<String>,
}

impl BlockedTypes {
    pub fn new(entries: &[String]) -> Self {
        let mut blocked = BlockedTypes::default();
        for entry in entries.iter().map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()) {
            match entry.strip_prefix('.') {
                Some(ext) => blocked.extensions.push(ext.to_owned()),
                None => blocked.mime_types.push(entry),
            }
        }
        blocked
    }

    fn blocks_mime(&self, mime: &str) -> bool {
        let mime = essence(mime);
        self.mime_types.contains(&mime)
    }

    fn blocks_extension(&self, ext: &str) -> bool {
        self.extensions.iter().any(|blocked| blocked == ext)
    }
}

/// The type to store and serve for an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub content_type: String,
    /// The type read from the content's signature, if it has one.
    pub sniffed: Option<&'static str>,
}

/// Checks an upload whose content starts with `head`, named `name` (already sanitised), that
/// the client declared as `declared`.
pub fn check(head: &[u8], name: &str, declared: Option<&str>, blocked: &BlockedTypes) -> Result<Accepted, TypeRejection> {
    let sniffed = infer::get(head);
    let ext = names::extension(name);
    let declared = declared.map(essence).filter(|d| !d.is_empty());

    if let Some(sniffed) = &sniffed
        && (blocked.blocks_mime(sniffed.mime_type()) || blocked.blocks_extension(sniffed.extension()))
    {
        return Err(TypeRejection::Blocked { what: format!("content of type {}", sniffed.mime_type()) });
    }
    if let Some(ext) = &ext
        && blocked.blocks_extension(ext)
    {
        return Err(TypeRejection::Blocked { what: format!("files named .{ext}") });
    }
    if let Some(declared) = &declared
        && blocked.blocks_mime(declared)
    {
        return Err(TypeRejection::Blocked { what: format!("declared type {declared}") });
    }

    let sniffed_ext = sniffed.as_ref().map(|t| t.extension());
    // The name must agree with the content wherever the content's type can be told from its
    // bytes: a "photo.jpg" that is really a PDF is refused. Names whose type has no signature
    // (text, CSV, JSON…) cannot be checked this way.
    if let Some(ext) = &ext
        && has_signature(ext)
        && !sniffed_ext.is_some_and(|sniffed| same_family(ext, sniffed))
    {
        return Err(TypeRejection::Mismatch {
            message: match sniffed_ext {
                Some(sniffed) => format!("the name says .{ext} but the content is .{sniffed}"),
                None => format!("the name says .{ext} but the content is not"),
            },
        });
    }
    // Likewise for the declared type, when it is one with a signature.
    if let Some(declared) = &declared
        && declared_has_signature(declared)
    {
        let agrees = sniffed.as_ref().is_some_and(|sniffed| {
            essence(sniffed.mime_type()) == *declared
                || mime_guess::get_mime_extensions_str(declared)
                    .is_some_and(|exts| exts.iter().any(|ext| same_family(ext, sniffed.extension())))
        });
        if !agrees {
            return Err(TypeRejection::Mismatch {
                message: match &sniffed {
                    Some(sniffed) => format!("declared as {declared} but the content is {}", sniffed.mime_type()),
                    None => format!("declared as {declared} but the content is not"),
                },
            });
        }
    }

    let content_type = match (&sniffed, &ext) {
        (Some(sniffed), _) => sniffed.mime_type().to_owned(),
        (None, Some(ext)) => mime_guess::from_ext(ext).first_raw().unwrap_or("application/octet-stream").to_owned(),
        (None, None) => "application/octet-stream".to_owned(),
    };
    Ok(Accepted { content_type, sniffed: sniffed.map(|t| t.mime_type()) })
}

/// `text/plain; charset=utf-8` -> `text/plain`.
fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Extensions whose files carry a reliable signature. `infer`'s text matchers (HTML, XML,
/// shell scripts) are guesses, so those names are not held to them.
fn has_signature(ext: &str) -> bool {
    infer::is_supported(ext) && !matches!(ext, "html" | "htm" | "xml" | "sh" | "txt")
}

fn declared_has_signature(mime: &str) -> bool {
    infer::is_mime_supported(mime)
        && !mime.starts_with("text/")
        && mime != "application/octet-stream"
        // Zip containers: office documents, e-books and archives are easily told apart by name
        // but not always by their first bytes.
        && mime != "application/zip"
}

/// Formats that share a container, so their signatures overlap: a `.docx` may sniff as a zip,
/// an old `.xls` as an OLE file, a `.m4a` as an MP4.
const FAMILIES: &[&[&str]] = &[
    &["jpg", "jpeg", "jpe", "jfif"],
    &["tif", "tiff"],
    &["zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "jar", "apk", "xpi", "vsdx"],
    &["doc", "xls", "ppt", "msi", "msg", "vsd"],
    &["mp4", "m4v", "m4a", "m4p", "m4b", "mov", "3gp", "3g2", "qt"],
    &["heic", "heif", "avif"],
    &["gz", "tgz"],
    &["mpg", "mpeg"],
    &["mkv", "webm"],
    &["ogg", "oga", "ogv", "opus", "ogx"],
];

fn same_family(a: &str, b: &str) -> bool {
    a == b || FAMILIES.iter().any(|family| family.contains(&a) && family.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";
    /// A 64-bit ELF header (`infer` wants a whole one, 64 bytes).
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0\
        \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\
        \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    const PE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

    #[test]
    fn fixtures_are_long_enough_to_sniff() {
        assert!(ELF.len() >= 64);
    }

    fn blocked() -> BlockedTypes {
        BlockedTypes::new(&crate::config::DEFAULT_BLOCKED_TYPES.split(',').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn accepts_matching_files_with_the_sniffed_type() {
        assert_eq!(check(PNG, "shot.png", Some("image/png"), &blocked()).unwrap().content_type, "image/png");
        assert_eq!(check(PDF, "a.pdf", None, &blocked()).unwrap().content_type, "application/pdf");
        // A declared type that cannot be checked from bytes is not held against the file.
        assert_eq!(check(PDF, "a.pdf", Some("application/octet-stream"), &blocked()).unwrap().content_type, "application/pdf");
    }

    #[test]
    fn text_without_a_signature_gets_its_type_from_the_name() {
        assert_eq!(check(b"a,b\n1,2\n", "data.csv", Some("text/csv"), &blocked()).unwrap().content_type, "text/csv");
        assert_eq!(check(b"hello", "notes.txt", None, &blocked()).unwrap().content_type, "text/plain");
        assert_eq!(check(b"hello", "README", None, &blocked()).unwrap().content_type, "application/octet-stream");
    }

    #[test]
    fn refuses_executables_by_content_whatever_the_name() {
        for (head, name) in [(ELF, "tool"), (ELF, "holiday.txt"), (PE, "invoice.pdf"), (PE, "setup.exe")] {
            assert!(matches!(check(head, name, None, &blocked()), Err(TypeRejection::Blocked { .. })), "{name}");
        }
    }

    #[test]
    fn refuses_blocked_names_and_declared_types() {
        assert!(matches!(check(b"@echo off", "run.BAT", None, &blocked()), Err(TypeRejection::Blocked { .. })));
        assert!(matches!(check(b"echo hi", "x.txt", Some("application/x-sh"), &blocked()), Err(TypeRejection::Blocked { .. })));
        assert!(matches!(check(b"#!/bin/sh\necho hi", "x.txt", None, &blocked()), Err(TypeRejection::Blocked { .. })));
    }

    #[test]
    fn the_list_is_configurable() {
        let only_pdf = BlockedTypes::new(&["application/pdf".to_owned(), " .PNG ".to_owned()]);
        assert!(matches!(check(PDF, "a.pdf", None, &only_pdf), Err(TypeRejection::Blocked { .. })));
        assert!(matches!(check(b"x", "a.png.png", None, &only_pdf), Err(TypeRejection::Blocked { .. })));
        assert!(check(ELF, "tool", None, &only_pdf).is_ok());
    }

    #[test]
    fn refuses_names_and_declared_types_that_contradict_the_content() {
        assert!(matches!(check(PDF, "photo.jpg", None, &blocked()), Err(TypeRejection::Mismatch { .. })));
        assert!(matches!(check(b"plain text", "photo.png", None, &blocked()), Err(TypeRejection::Mismatch { .. })));
        assert!(matches!(check(PNG, "shot.png", Some("application/pdf"), &blocked()), Err(TypeRejection::Mismatch { .. })));
        assert!(matches!(check(b"plain", "a.txt", Some("image/png"), &blocked()), Err(TypeRejection::Mismatch { .. })));
    }

    #[test]
    fn container_families_are_not_mismatches() {
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert!(check(zip, "report.docx", None, &blocked()).is_ok());
        assert!(check(zip, "bundle.zip", Some("application/zip"), &blocked()).is_ok());
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
        assert!(check(jpeg, "IMG.JPEG", Some("image/jpeg"), &blocked()).is_ok());
    }
}

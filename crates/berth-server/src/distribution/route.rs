//! Parsing `/v2/...` paths. Repository names contain slashes, so routes are
//! recognised by their fixed suffixes rather than by a path template.

/// A distribution API endpoint and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(&'a str),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/blobs/<digest>`
    Blob(&'a str, &'a str),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(&'a str),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(&'a str, &'a str),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(&'a str, &'a str),
}

impl<'a> Route<'a> {
    /// The endpoint's path template (the `route` label of metrics).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Base => "/v2/",
            Route::Catalog => "/v2/_catalog",
            Route::Tags(_) => "/v2/{name}/tags/list",
            Route::Manifest(..) => "/v2/{name}/manifests/{reference}",
            Route::Blob(..) => "/v2/{name}/blobs/{digest}",
            Route::UploadStart(_) => "/v2/{name}/blobs/uploads/",
            Route::Upload(..) => "/v2/{name}/blobs/uploads/{uuid}",
            Route::Referrers(..) => "/v2/{name}/referrers/{digest}",
        }
    }

    /// Recognise `path` (everything after `/v2/`).
    pub fn parse(path: &'a str) -> Option<Route<'a>> {
        if path.is_empty() {
            return Some(Route::Base);
        }
        if path == "_catalog" {
            return Some(Route::Catalog);
        }
        if let Some(name) = path.strip_suffix("/tags/list") {
            return Some(Route::Tags(name));
        }
        if let Some(name) = path
            .strip_suffix("/blobs/uploads/")
            .or_else(|| path.strip_suffix("/blobs/uploads"))
        {
            return Some(Route::UploadStart(name));
        }
        if let Some((name, id)) = path.rsplit_once("/blobs/uploads/") {
            return Some(Route::Upload(name, id));
        }
        if let Some((name, reference)) = path.rsplit_once("/manifests/") {
            return Some(Route::Manifest(name, reference));
        }
        if let Some((name, digest)) = path.rsplit_once("/blobs/") {
            return Some(Route::Blob(name, digest));
        }
        if let Some((name, digest)) = path.rsplit_once("/referrers/") {
            return Some(Route::Referrers(name, digest));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn recognises_every_endpoint() {
        assert_eq!(Route::parse(""), Some(Route::Base));
        assert_eq!(Route::parse("_catalog"), Some(Route::Catalog));
        assert_eq!(Route::parse("a/b/c/tags/list"), Some(Route::Tags("a/b/c")));
        assert_eq!(Route::parse("a/manifests/v1"), Some(Route::Manifest("a", "v1")));
        assert_eq!(
            Route::parse("a/blobs/sha256:x"),
            Some(Route::Blob("a", "sha256:x"))
        );
        assert_eq!(Route::parse("a/blobs/uploads/"), Some(Route::UploadStart("a")));
        assert_eq!(Route::parse("a/blobs/uploads/u1"), Some(Route::Upload("a", "u1")));
        assert_eq!(Route::parse("blobs/blobs/x"), Some(Route::Blob("blobs", "x")));
        assert_eq!(
            Route::parse("a/referrers/sha256:x"),
            Some(Route::Referrers("a", "sha256:x"))
        );
        assert_eq!(Route::parse("nothing"), None);
    }
}

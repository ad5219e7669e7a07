//! The bucket: uploads under compliance-mode Object Lock, reads back, and
//! the lock's state.
//!
//! object_store has no API for Object Lock. Its only way to send the lock
//! headers is a client's default headers, fixed per client, while each
//! object has its own date; and the lock's state, a delete of one version,
//! a legal hold change and a bucket with Object Lock are requests it cannot
//! make at all. So those requests, and the upload with them, are built here
//! with every header explicit: an upload is a PUT with the lock headers
//! (`x-amz-object-lock-mode: COMPLIANCE`,
//! `x-amz-object-lock-retain-until-date`, optionally
//! `x-amz-object-lock-legal-hold: ON`) and its SHA-256 checksum
//! (`x-amz-sdk-checksum-algorithm: SHA256`, `x-amz-checksum-sha256`: S3
//! refuses a locked upload without one), signed (SigV4) by object_store's
//! own [`AwsAuthorizer`] and sent through object_store's HTTP client; so are
//! the lock's state (a HEAD of one version), a delete of one version, a
//! legal hold, a lock extended (PutObjectRetention, `?retention`, with the
//! `Content-MD5` S3 asks of it; an earlier date than the lock in force is
//! refused here, never sent) and creating a bucket with Object Lock. Reads of a version, plain puts and
//! deletes without a version (which only add a delete marker) use
//! object_store's [`AmazonS3`]. Secrets never reach a log: [`StoreConfig`]'s
//! `Debug` redacts them.

use crate::error::WormError;
use base64::Engine;
use custos_model::{Digest, Timestamp};
use http::{HeaderMap, HeaderValue, Method};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer, AwsCredential, Checksum};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the bucket is and how to sign in to it.
#[derive(Clone, Default)]
pub struct StoreConfig {
    /// The bucket (created with Object Lock enabled).
    pub bucket: String,
    /// A prefix for every object name (e.g. `archive-1/`); may be empty.
    pub prefix: String,
    /// The endpoint of an S3-compatible store; `None`: AWS for `region`.
    pub endpoint: Option<String>,
    /// The region; empty: `us-east-1`.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The lock an upload asks for: compliance mode until a date, and
/// optionally a legal hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lock {
    /// Retain until (whole seconds, UTC).
    pub retain_until: Timestamp,
    /// Also set the S3 legal hold.
    pub legal_hold: bool,
}

impl Lock {
    /// Compliance mode until `retain_until` (rounded up to a second), no
    /// legal hold.
    pub fn until(retain_until: Timestamp) -> Lock {
        Lock {
            retain_until: crate::plan::lock_date(retain_until, Timestamp::from_micros(0)),
            legal_hold: false,
        }
    }
}

/// One object version in the bucket, as uploaded and checked: what a
/// `worm.uploaded` event records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    /// The object name inside the prefix.
    pub object: String,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// The store's version id.
    pub version_id: String,
    /// The lock's date, as asked.
    pub retain_until: Timestamp,
    /// Whether a legal hold was set.
    #[serde(default)]
    pub legal_hold: bool,
    /// Its length in bytes.
    pub bytes: u64,
}

/// A version's lock, as the store reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockState {
    /// `COMPLIANCE`, `GOVERNANCE`, or `None` when unlocked.
    pub mode: Option<String>,
    /// The retain-until date, if any.
    pub retain_until: Option<Timestamp>,
    /// Whether a legal hold is on.
    pub legal_hold: bool,
}

/// The date as S3 and its Object Lock headers write it:
/// `2033-05-01T10:00:00Z` (whole seconds).
pub fn retain_until_text(at: Timestamp) -> String {
    match jiff::Timestamp::from_microsecond(at.as_micros()) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "9999-12-30T00:00:00Z".to_string(),
    }
}

/// The WORM bucket.
#[derive(Clone)]
pub struct WormStore {
    config: Arc<StoreConfig>,
    /// Reads, unlocked puts and deletes without a version (which add a marker).
    reader: Arc<AmazonS3>,
    /// The HTTP client of the signed requests object_store has no API for.
    http: HttpClient,
    credential: Arc<AwsCredential>,
    base_url: String,
}

impl std::fmt::Debug for WormStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WormStore({:?})", self.config)
    }
}

impl WormStore {
    /// A store for `config`; nothing is sent yet.
    pub fn new(mut config: StoreConfig) -> Result<WormStore, WormError> {
        if config.bucket.is_empty() {
            return Err(WormError::Config {
                field: "bucket",
                problem: "no bucket is configured (CUSTOS_S3_BUCKET)".into(),
            });
        }
        if config.region.is_empty() {
            config.region = "us-east-1".into();
        }
        if !config.prefix.is_empty() && !config.prefix.ends_with('/') {
            config.prefix.push('/');
        }
        let base_url = match &config.endpoint {
            Some(e) => format!("{}/{}", e.trim_end_matches('/'), config.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com",
                config.bucket, config.region
            ),
        };
        let credential = Arc::new(AwsCredential {
            key_id: config.access_key_id.clone(),
            secret_key: config.secret_access_key.clone(),
            token: None,
        });
        let options = client_options(&config);
        let http = ReqwestConnector::default()
            .connect(&options)
            .map_err(|source| WormError::Store {
                object: String::new(),
                source,
            })?;
        let reader = Arc::new(build(&config)?);
        Ok(WormStore {
            config: Arc::new(config),
            reader,
            http,
            credential,
            base_url,
        })
    }

    /// The configuration (its `Debug` redacts the secrets).
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn path(&self, object: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{object}", self.config.prefix))
    }

    /// Uploads `bytes` as `object` under `lock` (compliance mode), then
    /// checks the copy ([`WormStore::verify_copy`]): the version's bytes
    /// read back and its lock as the store reports it.
    pub async fn put_locked(
        &self,
        object: &str,
        bytes: Vec<u8>,
        lock: &Lock,
    ) -> Result<Copy, WormError> {
        let digest = Digest::of(&bytes);
        let len = bytes.len() as u64;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-object-lock-mode",
            HeaderValue::from_static("COMPLIANCE"),
        );
        headers.insert(
            "x-amz-object-lock-retain-until-date",
            HeaderValue::from_str(&retain_until_text(lock.retain_until)).expect("ASCII"),
        );
        if lock.legal_hold {
            headers.insert(
                "x-amz-object-lock-legal-hold",
                HeaderValue::from_static("ON"),
            );
        }
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            HeaderValue::from_static("SHA256"),
        );
        headers.insert(
            "x-amz-checksum-sha256",
            HeaderValue::from_str(
                &base64::engine::general_purpose::STANDARD.encode(digest.as_bytes()),
            )
            .expect("ASCII"),
        );
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/octet-stream"),
        );
        let (status, answer, body) = self
            .signed(
                Method::PUT,
                object,
                &[],
                headers,
                bytes,
                Some(digest.as_bytes()),
            )
            .await?;
        if status != 200 {
            return Err(http_error(object, status, &body));
        }
        let version_id = answer
            .get("x-amz-version-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && *v != "null")
            .ok_or_else(|| WormError::Mismatch {
                object: object.to_string(),
                problem: "the store gave no version id: is Object Lock (and so versioning) enabled on the bucket?".into(),
            })?
            .to_string();
        let copy = Copy {
            object: object.to_string(),
            sha256: digest.to_string(),
            version_id,
            retain_until: lock.retain_until,
            legal_hold: lock.legal_hold,
            bytes: len,
        };
        self.verify_copy(&copy).await?;
        tracing::debug!(object, version = %copy.version_id, "uploaded under object lock");
        Ok(copy)
    }

    /// Checks that the bucket holds `copy` as recorded: the version's bytes
    /// have its SHA-256, its lock is COMPLIANCE until at least its date
    /// (and the legal hold is on if asked), and the object's current
    /// version is that one or has the same bytes (a later upload under the
    /// same name with other bytes, or a delete marker, is reported).
    pub async fn verify_copy(&self, copy: &Copy) -> Result<(), WormError> {
        let object = &copy.object;
        let mismatch = |problem: String| WormError::Mismatch {
            object: object.clone(),
            problem,
        };
        let bytes = self
            .get(object, Some(&copy.version_id))
            .await?
            .ok_or_else(|| {
                mismatch(format!(
                    "version {} is missing from the bucket",
                    copy.version_id
                ))
            })?;
        let found = Digest::of(&bytes).to_string();
        if found != copy.sha256 {
            return Err(mismatch(format!(
                "version {} has SHA-256 {found}, not the {} uploaded",
                copy.version_id, copy.sha256
            )));
        }
        let lock = self.lock_of(object, &copy.version_id).await?;
        if lock.mode.as_deref() != Some("COMPLIANCE") {
            return Err(mismatch(format!(
                "version {} is locked in mode {}, not COMPLIANCE",
                copy.version_id,
                lock.mode.as_deref().unwrap_or("none")
            )));
        }
        match lock.retain_until {
            Some(until) if until >= copy.retain_until => {}
            Some(until) => {
                return Err(mismatch(format!(
                    "version {} is retained until {}, earlier than the {} on record",
                    copy.version_id,
                    retain_until_text(until),
                    retain_until_text(copy.retain_until)
                )));
            }
            None => {
                return Err(mismatch(format!(
                    "version {} has no retain-until date",
                    copy.version_id
                )));
            }
        }
        if copy.legal_hold && !lock.legal_hold {
            return Err(mismatch(format!(
                "version {} has no legal hold, which was asked",
                copy.version_id
            )));
        }
        match self.current(object).await? {
            None => Err(mismatch(
                "the object has no current version (a delete marker hides it); the locked version remains".into(),
            )),
            Some((version, _)) if version == copy.version_id => Ok(()),
            Some((version, current)) => {
                let digest = Digest::of(&current).to_string();
                if digest == copy.sha256 {
                    Ok(())
                } else {
                    Err(mismatch(format!(
                        "a later version {version} with SHA-256 {digest} was written over the locked version {} (whose bytes are intact)",
                        copy.version_id
                    )))
                }
            }
        }
    }

    /// The bytes of `object` (of `version`, or the current one); `None`
    /// when there is no such object or version.
    pub async fn get(
        &self,
        object: &str,
        version: Option<&str>,
    ) -> Result<Option<Vec<u8>>, WormError> {
        let options = GetOptions {
            version: version.map(str::to_string),
            ..GetOptions::default()
        };
        match self.reader.get_opts(&self.path(object), options).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(|source| WormError::Store {
                    object: object.to_string(),
                    source,
                })?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(WormError::Store {
                object: object.to_string(),
                source,
            }),
        }
    }

    /// The current version of `object` and its bytes; `None` when absent
    /// (or hidden by a delete marker).
    pub async fn current(&self, object: &str) -> Result<Option<(String, Vec<u8>)>, WormError> {
        match self
            .reader
            .get_opts(&self.path(object), GetOptions::default())
            .await
        {
            Ok(result) => {
                let version = result.meta.version.clone().unwrap_or_default();
                let bytes = result.bytes().await.map_err(|source| WormError::Store {
                    object: object.to_string(),
                    source,
                })?;
                Ok(Some((version, bytes.to_vec())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(WormError::Store {
                object: object.to_string(),
                source,
            }),
        }
    }

    /// The lock of one version, from the store's answer to a HEAD of it.
    pub async fn lock_of(&self, object: &str, version: &str) -> Result<LockState, WormError> {
        let response = self
            .signed(
                Method::HEAD,
                object,
                &[("versionId", version)],
                HeaderMap::new(),
                Vec::new(),
                None,
            )
            .await?;
        let (status, headers, _) = response;
        if status != 200 {
            return Err(WormError::Http {
                object: object.to_string(),
                status,
                code: String::new(),
                message: format!("asking for the lock of version {version}"),
            });
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retain_until = match header("x-amz-object-lock-retain-until-date") {
            None => None,
            Some(text) => Some(Timestamp::parse(&text).map_err(|e| WormError::Mismatch {
                object: object.to_string(),
                problem: format!("the store's retain-until date {text:?} does not parse: {e}"),
            })?),
        };
        Ok(LockState {
            mode: header("x-amz-object-lock-mode"),
            retain_until,
            legal_hold: header("x-amz-object-lock-legal-hold").as_deref() == Some("ON"),
        })
    }

    /// Asks the store to delete one version of `object` for good. Under a
    /// lock in force the store refuses: [`WormError::DeleteRefused`].
    pub async fn delete_version(&self, object: &str, version: &str) -> Result<(), WormError> {
        let (status, _, body) = self
            .signed(
                Method::DELETE,
                object,
                &[("versionId", version)],
                HeaderMap::new(),
                Vec::new(),
                None,
            )
            .await?;
        match status {
            200 | 204 => Ok(()),
            403 => Err(WormError::DeleteRefused {
                object: object.to_string(),
                version: version.to_string(),
                status,
                code: error_code(&body),
            }),
            _ => Err(http_error(object, status, &body)),
        }
    }

    /// Turns the S3 legal hold of one version on or off.
    pub async fn set_legal_hold(
        &self,
        object: &str,
        version: &str,
        on: bool,
    ) -> Result<(), WormError> {
        let body = format!(
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
            if on { "ON" } else { "OFF" }
        )
        .into_bytes();
        let digest = Digest::of(&body);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            HeaderValue::from_static("SHA256"),
        );
        headers.insert(
            "x-amz-checksum-sha256",
            HeaderValue::from_str(
                &base64::engine::general_purpose::STANDARD.encode(digest.as_bytes()),
            )
            .expect("ASCII"),
        );
        headers.insert("content-type", HeaderValue::from_static("application/xml"));
        let (status, _, answer) = self
            .signed(
                Method::PUT,
                object,
                &[("legal-hold", ""), ("versionId", version)],
                headers,
                body,
                Some(digest.as_bytes()),
            )
            .await?;
        if status != 200 {
            return Err(http_error(object, status, &answer));
        }
        Ok(())
    }

    /// Lengthens the compliance lock of one version of `object` to `until`
    /// (rounded up to a whole second): S3's PutObjectRetention
    /// (`PUT ?retention&versionId=`, with the `Content-MD5` of its body),
    /// then the lock read back, which must be COMPLIANCE until at least
    /// `until`. The lock in force is read first: a date earlier than it is
    /// refused here ([`WormError::ShortenRefused`]) and never sent, so a
    /// store that does not enforce compliance mode is not shortened by us
    /// either; a date equal to it sends nothing. A refusal by the store is
    /// [`WormError::RetentionRefused`]. Returns the lock before and after.
    pub async fn extend_retention(
        &self,
        object: &str,
        version: &str,
        until: Timestamp,
    ) -> Result<(LockState, LockState), WormError> {
        let until = crate::plan::lock_date(until, Timestamp::from_micros(0));
        let before = self.lock_of(object, version).await?;
        match before.retain_until {
            Some(in_force) if in_force > until => {
                return Err(WormError::ShortenRefused {
                    object: object.to_string(),
                    version: version.to_string(),
                    in_force: retain_until_text(in_force),
                    asked: retain_until_text(until),
                });
            }
            Some(in_force) if in_force == until && before.mode.as_deref() == Some("COMPLIANCE") => {
                return Ok((before.clone(), before));
            }
            _ => {}
        }
        let (status, _, answer) = self.put_retention(object, version, until).await?;
        match status {
            200 | 204 => {}
            403 => {
                return Err(WormError::RetentionRefused {
                    object: object.to_string(),
                    version: version.to_string(),
                    status,
                    code: error_code(&answer),
                });
            }
            _ => return Err(http_error(object, status, &answer)),
        }
        let after = self.lock_of(object, version).await?;
        let mismatch = |problem: String| WormError::Mismatch {
            object: object.to_string(),
            problem,
        };
        if after.mode.as_deref() != Some("COMPLIANCE") {
            return Err(mismatch(format!(
                "after extending, version {version} is locked in mode {}, not COMPLIANCE",
                after.mode.as_deref().unwrap_or("none")
            )));
        }
        match after.retain_until {
            Some(found) if found >= until => {}
            found => {
                return Err(mismatch(format!(
                    "after extending to {}, version {version} is retained until {}",
                    retain_until_text(until),
                    found.map_or("no date".to_string(), retain_until_text)
                )));
            }
        }
        tracing::debug!(object, version, until = %retain_until_text(until), "lock extended");
        Ok((before, after))
    }

    /// Sends PutObjectRetention (COMPLIANCE until `until`) for one version
    /// as it is, with no check of the lock in force: (status, headers,
    /// body). Only [`WormStore::extend_retention`] calls it, after refusing
    /// an earlier date itself.
    async fn put_retention(
        &self,
        object: &str,
        version: &str,
        until: Timestamp,
    ) -> Result<(u16, HeaderMap, Vec<u8>), WormError> {
        let body = retention_body(until).into_bytes();
        let sha256 = Digest::of(&body);
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-md5",
            HeaderValue::from_str(&content_md5(&body)).expect("ASCII"),
        );
        headers.insert("content-type", HeaderValue::from_static("application/xml"));
        self.signed(
            Method::PUT,
            object,
            &[("retention", ""), ("versionId", version)],
            headers,
            body,
            Some(sha256.as_bytes()),
        )
        .await
    }

    /// Deletes `object` as a client without version ids does: the store
    /// adds a delete marker and keeps every version.
    pub async fn delete(&self, object: &str) -> Result<(), WormError> {
        self.reader
            .delete(&self.path(object))
            .await
            .map_err(|source| WormError::Store {
                object: object.to_string(),
                source,
            })
    }

    /// Uploads `bytes` as `object` with no lock (a test's way of writing
    /// over an object, as anyone with write access could); its version id.
    pub async fn put_unlocked(&self, object: &str, bytes: Vec<u8>) -> Result<String, WormError> {
        let put = self
            .reader
            .put_opts(
                &self.path(object),
                PutPayload::from(bytes),
                PutOptions::default(),
            )
            .await
            .map_err(|source| WormError::Store {
                object: object.to_string(),
                source,
            })?;
        Ok(put.version.unwrap_or_default())
    }

    /// Creates the bucket with Object Lock enabled (and so versioning).
    /// A bucket that already exists and is ours is fine.
    pub async fn create_bucket(&self) -> Result<(), WormError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-bucket-object-lock-enabled",
            HeaderValue::from_static("true"),
        );
        let (status, _, body) = self
            .signed(Method::PUT, "", &[], headers, Vec::new(), None)
            .await?;
        match status {
            200 => Ok(()),
            409 if error_code(&body) == "BucketAlreadyOwnedByYou" => Ok(()),
            _ => Err(http_error(&self.config.bucket, status, &body)),
        }
    }

    /// Sends a SigV4-signed request for `object` (or the bucket when
    /// empty) with `query`; (status, headers, body).
    async fn signed(
        &self,
        method: Method,
        object: &str,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Vec<u8>,
        body_sha256: Option<&[u8]>,
    ) -> Result<(u16, HeaderMap, Vec<u8>), WormError> {
        let mut url = self.base_url.clone();
        if !object.is_empty() {
            url.push('/');
            url.push_str(&encode_key(&format!("{}{object}", self.config.prefix)));
        }
        if !query.is_empty() {
            url.push('?');
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| match v.is_empty() {
                    true => encode_query(k),
                    false => format!("{}={}", encode_query(k), encode_query(v)),
                })
                .collect();
            url.push_str(&pairs.join("&"));
        }
        let fail = |problem: String| WormError::Http {
            object: object.to_string(),
            status: 0,
            code: String::new(),
            message: problem,
        };
        let mut request: HttpRequest = http::Request::builder()
            .method(method)
            .uri(&url)
            .body(HttpRequestBody::from(body))
            .map_err(|e| fail(e.to_string()))?;
        *request.headers_mut() = headers;
        AwsAuthorizer::new(&self.credential, "s3", &self.config.region)
            .try_authorize(&mut request, body_sha256)
            .map_err(|source| WormError::Store {
                object: object.to_string(),
                source,
            })?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok((status, headers, body.to_vec()))
    }
}

/// The `Content-MD5` header of a body: its MD5, base64 (RFC 1864).
fn content_md5(body: &[u8]) -> String {
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

/// The body of PutObjectRetention: compliance mode until `until`.
fn retention_body(until: Timestamp) -> String {
    format!(
        "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
        retain_until_text(until)
    )
}

fn client_options(config: &StoreConfig) -> ClientOptions {
    let plain_http = config
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    ClientOptions::new().with_allow_http(plain_http)
}

fn build(config: &StoreConfig) -> Result<AmazonS3, WormError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_access_key_id(&config.access_key_id)
        .with_secret_access_key(&config.secret_access_key)
        .with_checksum_algorithm(Checksum::SHA256)
        .with_client_options(client_options(config));
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder.build().map_err(|source| WormError::Store {
        object: String::new(),
        source,
    })
}

/// Percent-encodes an object key for a URL path (`/` kept).
fn encode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_query(text: &str) -> String {
    encode_key(text).replace('/', "%2F")
}

/// The `<Code>` of an S3 error body, or empty.
fn error_code(body: &[u8]) -> String {
    xml_field(body, "Code").unwrap_or_default()
}

fn xml_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))?;
    Some(text[start..start + end].to_string())
}

fn http_error(object: &str, status: u16, body: &[u8]) -> WormError {
    WormError::Http {
        object: object.to_string(),
        status,
        code: error_code(body),
        message: xml_field(body, "Message").unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_seconds_in_s3_form() {
        let at = Timestamp::parse("2033-05-01T10:00:00Z").unwrap();
        assert_eq!(retain_until_text(at), "2033-05-01T10:00:00Z");
        let lock = Lock::until(Timestamp::parse("2033-05-01T10:00:00.5Z").unwrap());
        assert_eq!(retain_until_text(lock.retain_until), "2033-05-01T10:00:01Z");
    }

    #[test]
    fn a_retention_body_asks_compliance_until_the_date() {
        let body = retention_body(Timestamp::parse("2040-02-29T12:00:00Z").unwrap());
        assert_eq!(
            body,
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode><RetainUntilDate>2040-02-29T12:00:00Z</RetainUntilDate></Retention>"
        );
    }

    #[test]
    fn content_md5_is_the_base64_md5_of_the_body() {
        // RFC 1321's test vectors.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
    }

    #[test]
    fn secrets_do_not_print() {
        let config = StoreConfig {
            bucket: "b".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            ..StoreConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("AKIAEXAMPLE"),
            "{shown}"
        );
    }

    #[test]
    fn keys_are_encoded_for_urls() {
        assert_eq!(encode_key("blobs/ab/c d"), "blobs/ab/c%20d");
        assert_eq!(encode_query("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(
            error_code(b"<Error><Code>AccessDenied</Code></Error>"),
            "AccessDenied"
        );
    }
}

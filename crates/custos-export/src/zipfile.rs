//! A small, streaming zip writer for `rsmf.zip` (APPNOTE 6.3.10: local
//! file headers, then the central directory and its end record).
//!
//! Why not the `zip` crate's writer: it needs the whole archive in a
//! seekable buffer and sets up a new compressor for every archive, which for
//! tens of thousands of small slices costs more than the compression
//! itself. Here each entry is compressed in memory by a [`Deflater`] that
//! each thread keeps and resets, and the archive streams straight into the
//! base64 encoder of the RSMF file. Entries carry a fixed time
//! (1980-01-01 00:00) so the output is deterministic. Archives of 4 GiB or
//! more, or of 65,535 entries or more, would need Zip64 and are refused: cut
//! the export finer (Relativity recommends RSMF files under 2 GB anyway).
//! The `zip` crate reads these archives back in [`verify`](crate::verify).

use std::cell::RefCell;
use std::io::{self, Write};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Version needed to extract: 2.0 (deflate).
const VERSION_NEEDED: u16 = 20;
/// Made by: Unix (3), specification 2.0.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
/// MS-DOS date of 1980-01-01 (day 1, month 1, year 0).
const DOS_DATE: u16 = (1 << 5) | 1;
/// A regular file, mode 0644, in the Unix external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// A raw-deflate compressor (level 1: fast) reused across entries.
pub struct Deflater {
    compress: flate2::Compress,
    buffer: Vec<u8>,
}

impl Deflater {
    fn new() -> Self {
        Deflater {
            compress: flate2::Compress::new(flate2::Compression::fast(), false),
            buffer: Vec::new(),
        }
    }

    /// Compresses `data`; the result lives until the next call.
    fn deflate(&mut self, data: &[u8]) -> io::Result<&[u8]> {
        self.compress.reset();
        self.buffer.clear();
        self.buffer.reserve(data.len() / 2 + 64);
        loop {
            let consumed = self.compress.total_in() as usize;
            let status = self
                .compress
                .compress_vec(
                    &data[consumed..],
                    &mut self.buffer,
                    flate2::FlushCompress::Finish,
                )
                .map_err(io::Error::other)?;
            if status == flate2::Status::StreamEnd {
                return Ok(&self.buffer);
            }
            let spare = self.buffer.capacity() - self.buffer.len();
            if spare < 64 {
                self.buffer.reserve(self.buffer.capacity().max(4096));
            }
        }
    }
}

thread_local! {
    static DEFLATER: RefCell<Deflater> = RefCell::new(Deflater::new());
}

/// A zip archive being written to `inner`.
pub struct ZipOut<W: Write> {
    inner: W,
    offset: u64,
    central: Vec<u8>,
    entries: u64,
}

fn too_large(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what} would need Zip64, which rsmf.zip does not use; cut the export finer"
    ))
}

impl<W: Write> ZipOut<W> {
    /// Starts an archive.
    pub fn new(inner: W) -> Self {
        ZipOut {
            inner,
            offset: 0,
            central: Vec::new(),
            entries: 0,
        }
    }

    /// Adds the file `name` holding `data`, deflated if `compress` and
    /// deflating makes it smaller, stored otherwise.
    pub fn add(&mut self, name: &str, data: &[u8], compress: bool) -> io::Result<()> {
        let crc = crc32fast::hash(data);
        DEFLATER.with(|cell| {
            let mut deflater = cell.borrow_mut();
            let (method, body) = if compress {
                let packed = deflater.deflate(data)?;
                if packed.len() < data.len() {
                    (DEFLATED, packed)
                } else {
                    (STORED, data)
                }
            } else {
                (STORED, data)
            };
            self.entry(name, crc, method, body, data.len())
        })
    }

    fn entry(
        &mut self,
        name: &str,
        crc: u32,
        method: u16,
        body: &[u8],
        size: usize,
    ) -> io::Result<()> {
        let limit = u32::MAX as u64;
        if size as u64 >= limit || body.len() as u64 >= limit || self.offset >= limit {
            return Err(too_large(&format!("file {name:?}")));
        }
        if self.entries >= u16::MAX as u64 {
            return Err(too_large("more than 65,534 files"));
        }
        let name_len = u16::try_from(name.len()).map_err(|_| too_large("a file name"))?;
        let mut header = Vec::with_capacity(30 + name.len());
        header.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        header.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // flags
        header.extend_from_slice(&method.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // time 00:00:00
        header.extend_from_slice(&DOS_DATE.to_le_bytes());
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&(body.len() as u32).to_le_bytes());
        header.extend_from_slice(&(size as u32).to_le_bytes());
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        header.extend_from_slice(name.as_bytes());

        let c = &mut self.central;
        c.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
        c.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
        c.extend_from_slice(&header[4..30]); // needed .. extra length, as above
        c.extend_from_slice(&0u16.to_le_bytes()); // comment length
        c.extend_from_slice(&0u16.to_le_bytes()); // disk number
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        c.extend_from_slice(&EXTERNAL_ATTRIBUTES.to_le_bytes());
        c.extend_from_slice(&(self.offset as u32).to_le_bytes());
        c.extend_from_slice(name.as_bytes());

        self.inner.write_all(&header)?;
        self.inner.write_all(body)?;
        self.offset += (header.len() + body.len()) as u64;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and its end record; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let limit = u32::MAX as u64;
        if self.offset + self.central.len() as u64 >= limit {
            return Err(too_large("an archive of 4 GiB"));
        }
        let entries = self.entries as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // this disk
        end.extend_from_slice(&0u16.to_le_bytes()); // disk of the directory
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&(self.central.len() as u32).to_le_bytes());
        end.extend_from_slice(&(self.offset as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.inner.write_all(&self.central)?;
        self.inner.write_all(&end)?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_zip_crate_reads_back_every_entry() {
        let text = "rsmf manifest ".repeat(1000);
        // SHA-256 output does not compress.
        let noise: Vec<u8> = (0..160u32)
            .flat_map(|i| *custos_model::Digest::of(&i.to_le_bytes()).as_bytes())
            .collect();
        let mut zip = ZipOut::new(Vec::new());
        zip.add("rsmf_manifest.json", text.as_bytes(), true)
            .unwrap();
        zip.add("photo.jpg", &noise, false).unwrap();
        zip.add("noise.bin", &noise, true).unwrap();
        zip.add("empty.txt", b"", true).unwrap();
        let bytes = zip.finish().unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 4);
        let expected: [(&str, &[u8], zip::CompressionMethod); 4] = [
            (
                "rsmf_manifest.json",
                text.as_bytes(),
                zip::CompressionMethod::Deflated,
            ),
            ("photo.jpg", &noise, zip::CompressionMethod::Stored),
            // Deflating noise does not make it smaller: stored.
            ("noise.bin", &noise, zip::CompressionMethod::Stored),
            ("empty.txt", b"", zip::CompressionMethod::Stored),
        ];
        for (i, (name, data, method)) in expected.into_iter().enumerate() {
            let mut file = archive.by_index(i).unwrap();
            assert_eq!(file.name().unwrap(), name);
            assert_eq!(file.compression(), method, "{name}");
            let mut read = Vec::new();
            file.read_to_end(&mut read).unwrap();
            assert_eq!(read, data, "{name}");
        }
        let manifest = archive.by_index(0).unwrap();
        assert!(
            manifest.compressed_size() < 200,
            "{}",
            manifest.compressed_size()
        );
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        let build = || {
            let mut zip = ZipOut::new(Vec::new());
            zip.add("a.json", b"{\"version\":\"2.0.0\"}", true).unwrap();
            zip.finish().unwrap()
        };
        assert_eq!(build(), build());
    }
}

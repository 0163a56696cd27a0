//! Numeric CSV input: comma-separated, optional header row, every cell a finite number.
//!
//! The first row is a header when none of its cells parses as a number; a row mixing numbers and
//! text is an error, not a header, so a typo in the first data row is never silently skipped.
//! Every error names the line (1-based, as an editor shows it) and column (1-based).
//!
//! Blank lines (empty, or spaces only) are skipped. An empty cell is an error, including the
//! only cell of a one-column row written `""`: skipping it would shift every later row against
//! the output of `score`/`predict`. A line longer than [`MAX_LINE_BYTES`] is an error as soon as
//! its first [`MAX_LINE_BYTES`] bytes were read, so one huge row cannot take memory.

use crabmix_kernels::Real;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A numeric table, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Table<T> {
    /// Values, `rows × cols` row-major.
    pub data: Vec<T>,
    /// Number of data rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Column names, when the file had a header row.
    pub header: Option<Vec<String>>,
}

/// What is wrong with a CSV file, and where.
#[derive(Debug)]
pub enum CsvError {
    /// The file could not be opened or read.
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// No data rows (empty file, or a header only).
    NoData {
        /// File.
        path: PathBuf,
    },
    /// A row has a different number of cells than the first row.
    Ragged {
        /// File.
        path: PathBuf,
        /// Line of the row.
        line: u64,
        /// Cells in the first row.
        expected: usize,
        /// Cells in this row.
        found: usize,
    },
    /// A cell is not a number.
    NotANumber {
        /// File.
        path: PathBuf,
        /// Line.
        line: u64,
        /// Column (1-based).
        column: usize,
        /// The cell's text.
        text: String,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// File.
        path: PathBuf,
        /// Line.
        line: u64,
    },
    /// The first data row's width differs from the one the caller expects
    /// ([`CsvRows::expect_columns`]: a model's features).
    WrongWidth {
        /// File.
        path: PathBuf,
        /// Line of the first data row.
        line: u64,
        /// Columns expected.
        expected: usize,
        /// Cells in the row.
        found: usize,
    },
    /// A cell is NaN, infinite, or out of range for the chosen precision.
    NonFinite {
        /// File.
        path: PathBuf,
        /// Line.
        line: u64,
        /// Column (1-based).
        column: usize,
        /// The cell's text.
        text: String,
        /// Precision asked for (`f32` or `f64`).
        precision: &'static str,
    },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            CsvError::NoData { path } => write!(f, "{}: no data rows", path.display()),
            CsvError::Ragged { path, line, expected, found } => write!(
                f,
                "{}:{line}: row has {found} columns, expected {expected} (as in the first row)",
                path.display()
            ),
            CsvError::LineTooLong { path, line } => {
                write!(f, "{}:{line}: line longer than the limit of {MAX_LINE_BYTES} bytes", path.display())
            }
            CsvError::WrongWidth { path, line, expected, found } => {
                write!(f, "{}:{line}: {found} columns, but the model has {expected} features", path.display())
            }
            CsvError::NotANumber { path, line, column, text } => {
                write!(f, "{}:{line}:{column}: cell {text:?} is not a number", path.display())
            }
            CsvError::NonFinite { path, line, column, text, precision } => write!(
                f,
                "{}:{line}:{column}: cell {text:?} is not a finite {precision} value",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CsvError {}

/// Longest line accepted: 1 MiB, 500 times a 64-column row of 17-digit numbers; what a line
/// can cost in memory while it is read.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A reader that fails with `InvalidData` once a line exceeds [`MAX_LINE_BYTES`], counting the
/// line it is on (the csv crate would otherwise grow its record for as long as the line goes).
struct LineCap<R> {
    inner: R,
    /// Bytes since the last newline.
    run: usize,
    /// Line (1-based) the last byte read is on.
    line: u64,
    /// Set once a line exceeded the cap: the line it was.
    too_long: Option<u64>,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let too_long = || std::io::Error::new(std::io::ErrorKind::InvalidData, "line too long");
        if self.too_long.is_some() {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
                self.line += 1;
            } else {
                self.run += 1;
                if self.run > MAX_LINE_BYTES {
                    self.too_long = Some(self.line);
                    return Err(too_long());
                }
            }
        }
        Ok(n)
    }
}

fn parse_cell<T: Real>(text: &str) -> Result<T, bool> {
    // Err(false): not a number; Err(true): a number but not finite in T.
    let v: f64 = text.parse().map_err(|_| false)?;
    let t = T::from_f64(v);
    if v.is_finite() && t.is_finite() { Ok(t) } else { Err(true) }
}

/// Reads a numeric CSV file into a row-major table of `T`.
pub fn read_csv<T: Real>(path: &Path) -> Result<Table<T>, CsvError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CsvError::Io { path: path.to_owned(), message: e.to_string() })?;
    read_csv_from(file, path)
}

/// As [`read_csv`], from any reader (`path` only names the source in errors).
pub fn read_csv_from<T: Real, R: std::io::Read>(reader: R, path: &Path) -> Result<Table<T>, CsvError> {
    let mut rows = CsvRows::<T, R>::new(reader, path);
    let mut data = Vec::new();
    let n = rows.read_chunk(usize::MAX, &mut data)?;
    if n == 0 {
        return Err(CsvError::NoData { path: path.to_owned() });
    }
    Ok(Table { data, rows: n, cols: rows.cols, header: rows.header })
}

/// A numeric CSV file read in chunks of rows, so that memory stays bounded by the chunk size
/// whatever the file's length (`crabmix gmm score`/`predict` on files larger than RAM). Same
/// rules and errors as [`read_csv`]; a file with no data rows is [`CsvError::NoData`] at the
/// first call of `CsvRows::read_chunk`.
pub struct CsvRows<T, R> {
    rdr: csv::Reader<LineCap<R>>,
    record: csv::StringRecord,
    path: PathBuf,
    cols: usize,
    header: Option<Vec<String>>,
    first: bool,
    expected_cols: Option<usize>,
    rows_read: usize,
    _scalar: std::marker::PhantomData<T>,
}

impl<T: Real> CsvRows<T, std::fs::File> {
    /// Opens `path` for chunked reading.
    pub fn open(path: &Path) -> Result<Self, CsvError> {
        let file = std::fs::File::open(path)
            .map_err(|e| CsvError::Io { path: path.to_owned(), message: e.to_string() })?;
        Ok(Self::new(file, path))
    }
}

impl<T: Real, R: std::io::Read> CsvRows<T, R> {
    /// Reads from `reader` (`path` only names the source in errors).
    pub fn new(reader: R, path: &Path) -> Self {
        Self {
            rdr: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                // Cells are trimmed here, not by the csv crate, so that `""` (an empty cell) and
                // a line of spaces (blank) stay apart.
                .trim(csv::Trim::None)
                .from_reader(LineCap { inner: reader, run: 0, line: 1, too_long: None }),
            record: csv::StringRecord::new(),
            path: path.to_owned(),
            cols: 0,
            header: None,
            first: true,
            expected_cols: None,
            rows_read: 0,
            _scalar: std::marker::PhantomData,
        }
    }

    /// Requires `cols` columns: the first data row of another width is
    /// [`CsvError::WrongWidth`], before any later row is read.
    pub fn expect_columns(mut self, cols: usize) -> Self {
        self.expected_cols = Some(cols);
        self
    }

    /// Number of columns (0 until the first row was read).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Column names, when the file had a header row (known once the first chunk was read).
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// Data rows returned so far.
    pub fn rows_read(&self) -> usize {
        self.rows_read
    }

    /// Clears `out` and fills it with up to `max_rows` rows (row-major); returns how many.
    /// `Ok(0)` is the end of the file, except that a file without any data row is
    /// [`CsvError::NoData`].
    pub fn next_chunk(&mut self, max_rows: usize, out: &mut Vec<T>) -> Result<usize, CsvError> {
        out.clear();
        let n = self.read_chunk(max_rows, out)?;
        if n == 0 && self.rows_read == 0 {
            return Err(CsvError::NoData { path: self.path.clone() });
        }
        Ok(n)
    }

    /// Appends up to `max_rows` rows to `out`; returns how many.
    fn read_chunk(&mut self, max_rows: usize, out: &mut Vec<T>) -> Result<usize, CsvError> {
        let path = &self.path;
        let mut n = 0usize;
        while n < max_rows {
            match self.rdr.read_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    if let Some(line) = self.rdr.get_ref().too_long {
                        return Err(CsvError::LineTooLong { path: path.clone(), line });
                    }
                    return Err(CsvError::Io { path: path.clone(), message: e.to_string() });
                }
            }
            let record = &self.record;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            // A line of spaces is blank, not a row (the csv crate skips empty lines itself); a
            // lone `""` is an empty cell, reported below.
            if record.len() == 1 && !record[0].is_empty() && record[0].trim().is_empty() {
                continue;
            }
            if self.first {
                self.first = false;
                self.cols = record.len();
                let numeric = record.iter().filter(|c| c.trim().parse::<f64>().is_ok()).count();
                if numeric == 0 {
                    self.header = Some(record.iter().map(|c| c.trim().to_owned()).collect());
                    continue;
                }
            }
            if let Some(expected) = self.expected_cols.take()
                && record.len() != expected
            {
                return Err(CsvError::WrongWidth { path: path.clone(), line, expected, found: record.len() });
            }
            if record.len() != self.cols {
                return Err(CsvError::Ragged {
                    path: path.clone(),
                    line,
                    expected: self.cols,
                    found: record.len(),
                });
            }
            for (c, cell) in record.iter().enumerate() {
                let cell = cell.trim();
                match parse_cell::<T>(cell) {
                    Ok(v) => out.push(v),
                    Err(false) => {
                        return Err(CsvError::NotANumber {
                            path: path.clone(),
                            line,
                            column: c + 1,
                            text: cell.to_owned(),
                        });
                    }
                    Err(true) => {
                        return Err(CsvError::NonFinite {
                            path: path.clone(),
                            line,
                            column: c + 1,
                            text: cell.to_owned(),
                            precision: T::NAME,
                        });
                    }
                }
            }
            n += 1;
            self.rows_read += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<Table<f64>, CsvError> {
        read_csv_from(s.as_bytes(), Path::new("t.csv"))
    }

    #[test]
    fn header_is_optional() {
        let t = read("a,b\n1,2\n3,4\n").unwrap();
        assert_eq!((t.rows, t.cols), (2, 2));
        assert_eq!(t.data, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.header.unwrap(), vec!["a", "b"]);
        let t = read("1,2\n3,4").unwrap();
        assert_eq!(t.data, vec![1.0, 2.0, 3.0, 4.0]);
        assert!(t.header.is_none());
    }

    #[test]
    fn bom_crlf_and_spaces() {
        let t = read("\u{feff}x,y\r\n 1.5 ,2\r\n3,4e-1\r\n").unwrap();
        assert_eq!(t.data, vec![1.5, 2.0, 3.0, 0.4]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = read("1,2\n3,x\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv:2:2: cell \"x\" is not a number");
        let e = read("1,2\n3,4,5\n").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2: row has 3 columns, expected 2"), "{e}");
        let e = read("a,b\n1,NaN\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv:2:2: cell \"NaN\" is not a finite f64 value");
        let e = read_csv_from::<f32, _>("1e308,1\n".as_bytes(), Path::new("t.csv")).unwrap_err();
        assert!(e.to_string().contains("not a finite f32"), "{e}");
        // Mixed first row: an error, not a header.
        let e = read("1,abc\n2,3\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv:1:2: cell \"abc\" is not a number");
        assert!(matches!(read(""), Err(CsvError::NoData { .. })));
        assert!(matches!(read("a,b\n"), Err(CsvError::NoData { .. })));
    }

    #[test]
    fn chunks_concatenate_to_the_whole_table() {
        let text = "x,y\n1,2\n3,4\n\n5,6\n7,8\n9,10\n";
        let whole = read(text).unwrap();
        let mut rows = CsvRows::<f64, _>::new(text.as_bytes(), Path::new("t.csv"));
        let (mut all, mut chunk, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let n = rows.next_chunk(2, &mut chunk).unwrap();
            if n == 0 {
                break;
            }
            sizes.push(n);
            all.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(all, whole.data);
        assert_eq!((rows.cols(), rows.rows_read()), (2, 5));
        assert_eq!(rows.header().unwrap(), ["x", "y"]);
    }

    #[test]
    fn chunked_errors_keep_the_file_line() {
        // The bad cell is in the third chunk: its line is still the file's (line 6).
        let text = "x\n1\n2\n3\n4\nbad\n";
        let mut rows = CsvRows::<f64, _>::new(text.as_bytes(), Path::new("t.csv"));
        let mut chunk = Vec::new();
        assert_eq!(rows.next_chunk(2, &mut chunk).unwrap(), 2);
        assert_eq!(rows.next_chunk(2, &mut chunk).unwrap(), 2);
        let e = rows.next_chunk(2, &mut chunk).unwrap_err().to_string();
        assert_eq!(e, "t.csv:6:1: cell \"bad\" is not a number");
        let mut rows = CsvRows::<f64, _>::new("a,b\n".as_bytes(), Path::new("h.csv"));
        assert!(matches!(rows.next_chunk(2, &mut chunk), Err(CsvError::NoData { .. })));
    }

    #[test]
    fn an_empty_cell_is_an_error_and_a_line_of_spaces_is_blank() {
        let e = read("x\n1\n\"\"\n3\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv:3:1: cell \"\" is not a number");
        let e = read("1,,2\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv:1:2: cell \"\" is not a number");
        let t = read("x\n1\n   \n\n3\n").unwrap();
        assert_eq!(t.data, vec![1.0, 3.0]);
    }

    #[test]
    fn a_line_over_the_cap_fails_once_the_cap_is_read() {
        let mut text = b"1,2\n".to_vec();
        text.extend(std::iter::repeat_n(b'7', MAX_LINE_BYTES + 1));
        text.extend_from_slice(b"\n3,4\n");
        let e = read_csv_from::<f64, _>(text.as_slice(), Path::new("t.csv")).unwrap_err().to_string();
        assert_eq!(e, format!("t.csv:2: line longer than the limit of {MAX_LINE_BYTES} bytes"));
        // Exactly at the cap is fine (one cell of MAX_LINE_BYTES digits' worth of zeros).
        let mut text = vec![b'0'; MAX_LINE_BYTES];
        text.push(b'\n');
        assert_eq!(read_csv_from::<f64, _>(text.as_slice(), Path::new("t.csv")).unwrap().data, vec![0.0]);
    }

    #[test]
    fn expected_width_is_checked_at_the_first_data_row() {
        let mut chunk = Vec::new();
        let text = "a,b,c\n1,2,3\n";
        let mut rows = CsvRows::<f64, _>::new(text.as_bytes(), Path::new("t.csv")).expect_columns(2);
        let e = rows.next_chunk(1 << 16, &mut chunk).unwrap_err().to_string();
        assert_eq!(e, "t.csv:2: 3 columns, but the model has 2 features");
        let mut rows = CsvRows::<f64, _>::new(text.as_bytes(), Path::new("t.csv")).expect_columns(3);
        assert_eq!(rows.next_chunk(1 << 16, &mut chunk).unwrap(), 1);
    }
}

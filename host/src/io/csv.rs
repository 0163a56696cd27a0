//! Numeric CSV input: comma-separated, optional header row, every cell a finite number.
//!
//! The first row is a header when none of its cells parses as a number; a row mixing numbers and
//! text is an error, not a header, so a typo in the first data row is never silently skipped.
//! Every error names the line (1-based, as an editor shows it) and column (1-based).

use crabmix_kernels::Real;
use std::fmt;
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
    rdr: csv::Reader<R>,
    record: csv::StringRecord,
    path: PathBuf,
    cols: usize,
    header: Option<Vec<String>>,
    first: bool,
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
                .trim(csv::Trim::All)
                .from_reader(reader),
            record: csv::StringRecord::new(),
            path: path.to_owned(),
            cols: 0,
            header: None,
            first: true,
            rows_read: 0,
            _scalar: std::marker::PhantomData,
        }
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
                Err(e) => return Err(CsvError::Io { path: path.clone(), message: e.to_string() }),
            }
            let record = &self.record;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            // A blank line is not a row.
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            if self.first {
                self.first = false;
                self.cols = record.len();
                let numeric = record.iter().filter(|c| c.parse::<f64>().is_ok()).count();
                if numeric == 0 {
                    self.header = Some(record.iter().map(str::to_owned).collect());
                    continue;
                }
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
}

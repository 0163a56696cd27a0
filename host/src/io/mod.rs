//! Input and output: numeric CSV data ([`csv`]), size-limited file reads ([`file`]) and the SVG
//! figures ([`plot`]).

pub mod csv;
pub mod file;
pub mod plot;

//! Input and output: numeric CSV data ([`csv`]) and the SVG figures ([`plot`]).

pub mod csv;
pub mod plot;

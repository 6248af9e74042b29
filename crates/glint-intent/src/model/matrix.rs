//! [`Matrix`]: the dense, row-major table both learners read.

use super::Error;

/// A dense table of `f64`, row-major, with one name per column.
///
/// Non-finite cells (NaN, ±∞) are *missing* to both learners: logistic regression reads them
/// as the training mean, the trees send them down each split's learned default branch.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    names: Vec<String>,
    values: Vec<f64>,
    n_rows: usize,
}

impl Matrix {
    /// An empty matrix with these column names.
    pub fn new(names: Vec<String>) -> Matrix {
        Matrix { names, values: Vec::new(), n_rows: 0 }
    }

    /// A matrix over row-major `values` (`names.len()` values per row).
    ///
    /// # Errors
    /// [`Error::Shape`] when `values` does not split into whole rows, or when there are
    /// values but no columns.
    pub fn from_values(names: Vec<String>, values: Vec<f64>) -> Result<Matrix, Error> {
        let n_cols = names.len();
        if (n_cols == 0 && !values.is_empty()) || (n_cols > 0 && !values.len().is_multiple_of(n_cols)) {
            return Err(Error::Shape { n_values: values.len(), n_cols });
        }
        let n_rows = values.len().checked_div(n_cols).unwrap_or(0);
        Ok(Matrix { names, values, n_rows })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`Error::RowLength`] when `row` does not have one value per column.
    pub fn push_row(&mut self, row: &[f64]) -> Result<(), Error> {
        if row.len() != self.names.len() {
            return Err(Error::RowLength { expected: self.names.len(), found: row.len() });
        }
        self.values.extend_from_slice(row);
        self.n_rows += 1;
        Ok(())
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.names.len()
    }

    /// The column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= n_rows()`.
    pub fn row(&self, i: usize) -> &[f64] {
        let n_cols = self.names.len();
        &self.values[i * n_cols..(i + 1) * n_cols]
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The rows in `range`, as a new matrix with the same columns.
    ///
    /// # Panics
    /// When the range reaches past the last row.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Matrix {
        let n_cols = self.names.len();
        Matrix {
            names: self.names.clone(),
            values: self.values[range.start * n_cols..range.end * n_cols].to_vec(),
            n_rows: range.len(),
        }
    }

    /// The rows at `indices`, in that order, as a new matrix.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut values = Vec::with_capacity(indices.len() * self.names.len());
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Matrix { names: self.names.clone(), values, n_rows: indices.len() }
    }

    /// Checks that `labels` has one entry per row.
    pub(crate) fn check_labels(&self, labels: &[bool]) -> Result<(), Error> {
        if labels.len() == self.n_rows {
            Ok(())
        } else {
            Err(Error::LabelCount { rows: self.n_rows, labels: labels.len() })
        }
    }

    /// Checks that `labels` can train on these rows — one per row, some rows, both classes —
    /// and returns the rows and the positives.
    pub(crate) fn check_training(&self, labels: &[bool]) -> Result<(usize, usize), Error> {
        self.check_labels(labels)?;
        let n_pos = labels.iter().filter(|&&b| b).count();
        if self.n_rows == 0 {
            return Err(Error::Empty);
        }
        if n_pos == 0 || n_pos == self.n_rows {
            return Err(Error::OneClass { rows: self.n_rows, positives: n_pos });
        }
        Ok((self.n_rows, n_pos))
    }

    /// Checks that `other` has exactly these columns.
    pub(crate) fn check_same_columns(&self, other: &Matrix) -> Result<(), Error> {
        if self.names == other.names {
            return Ok(());
        }
        let column = self.names.iter().zip(&other.names).take_while(|(a, b)| a == b).count();
        Err(Error::ColumnMismatch {
            column,
            expected: self.names.get(column).cloned(),
            found: other.names.get(column).cloned(),
        })
    }
}

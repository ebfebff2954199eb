//! Go's `text/tabwriter` (elastic tabstops), as docker's fork configures it:
//! left-aligned, space padding, cell widths in display columns. Docker's
//! tables use `minwidth 10, tabwidth 1, padding 3`; `docker version` uses
//! `minwidth 20, padding 1`.
//!
//! Not the `tabwriter` crate: it computes `max(minwidth, w) + padding` where Go
//! computes `max(minwidth, w + padding)`, so narrow columns come out wider.

use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Default)]
struct Cell<'a> {
    text: &'a str,
    width: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    pub minwidth: usize,
    pub padding: usize,
}

/// Docker's table settings.
pub const TABLE: TabWriter = TabWriter {
    minwidth: 10,
    padding: 3,
};

impl TabWriter {
    /// Aligns tab-terminated cells of `input` into columns.
    pub fn format(&self, input: &str) -> String {
        // Lines of cells; a cell is terminated by '\t', the last one by the line end.
        let mut lines: Vec<Vec<Cell>> = Vec::with_capacity(input.len() / 64);
        let mut raw_lines: Vec<&str> = input.split('\n').collect();
        // `split` yields a final "" after a trailing newline: that is Go's
        // empty last buffered line, which prints nothing.
        let trailing = raw_lines.pop().unwrap_or_default();
        for l in raw_lines.iter().chain(std::iter::once(&trailing)) {
            lines.push(
                l.split('\t')
                    .map(|t| Cell {
                        text: t,
                        // Printable ASCII is one column a byte.
                        width: if t.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                            t.len()
                        } else {
                            UnicodeWidthStr::width(t)
                        },
                    })
                    .collect(),
            );
        }
        let mut out = String::with_capacity(input.len() * 2);
        let mut widths: Vec<usize> = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    fn block(
        &self,
        lines: &[Vec<Cell>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // This line has a cell in this column: print the lines before the block.
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 {
                let line = &lines[this];
                if column + 1 >= line.len() {
                    break;
                }
                width = width.max(line[column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn write_lines(
    lines: &[Vec<Cell>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, c) in line.iter().enumerate() {
            out.push_str(c.text);
            if j + 1 < line.len() && j < widths.len() {
                let mut pad = widths[j].saturating_sub(c.width);
                const SPACES: &str = "                                ";
                while pad > 0 {
                    let n = pad.min(SPACES.len());
                    out.push_str(&SPACES[..n]);
                    pad -= n;
                }
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ps_header_alone() {
        // `docker ps` with no containers prints exactly this header.
        let s = TABLE.format("CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n");
        assert_eq!(
            s,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn docker_images_table() {
        let s = TABLE.format(
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\tb6a645e87829\t56 years ago\t1.98MB\n",
        );
        assert_eq!(
            s,
            "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n\
             busybox      latest    b6a645e87829   56 years ago   1.98MB\n"
        );
    }

    #[test]
    fn ragged_lines_form_separate_blocks() {
        // Go's column blocks: a line without the column ends the block.
        let s = TABLE.format("a\tb\tc\nxx\nlonger-cell\td\n");
        assert_eq!(s, "a         b         c\nxx\nlonger-cell   d\n");
    }

    #[test]
    fn wide_characters_count_double() {
        let s = TABLE.format("名前\tX\nab\tY\n");
        assert_eq!(s, "名前      X\nab        Y\n");
    }

    #[test]
    fn version_layout() {
        let tw = TabWriter {
            minwidth: 20,
            padding: 1,
        };
        let s = tw.format("Client:\n Version:\t28.2.2\n API version:\t1.51\n");
        assert_eq!(
            s,
            "Client:\n Version:           28.2.2\n API version:       1.51\n"
        );
    }
}

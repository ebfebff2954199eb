//! `pier ps` / `pier container ls`.

use crate::cli::PsArgs;
use crate::client::Query;
use crate::commands::{filters_json, print_rendered, CmdError, CmdResult, Ctx};
use crate::format::{self, container, template::Template, Format};
use crate::output;

pub async fn run(ctx: &Ctx, a: PsArgs) -> CmdResult {
    ctx.no_args(&a.args)?;
    let mut format_src = a.format.clone().unwrap_or_default();
    if format_src.is_empty() {
        format_src = crate::config::load().ps_format.unwrap_or_default();
    } else if a.quiet {
        output::err_bytes(
            b"WARNING: Ignoring custom format, because both --format and --quiet are set.\n",
        );
    }
    let mut size = a.size.unwrap_or(false);
    let mut limit = a.last;
    if a.latest && a.last == -1 {
        limit = 1;
    }
    if !format_src.is_empty() {
        // docker parses the raw string and runs it on an empty container first.
        let t = Template::parse(&format_src)
            .map_err(|e| CmdError::new(1, format!("failed to parse template: {e}")))?;
        t.execute(&container::context(&serde_json::json!({}), true))
            .map_err(|e| CmdError::new(1, format!("failed to execute template: {e}")))?;
        if !a.quiet && a.size.is_none() && container::uses_size(&format_src) {
            size = true;
        }
    }
    let filters = filters_json(ctx, &a.filter)?;
    let q = Query::new()
        .add_if(a.all, "all", "1")
        .add_if(limit > 0, "limit", limit.to_string())
        .add_if(size, "size", "1")
        .add_if(
            filters.is_some(),
            "filters",
            filters.clone().unwrap_or_default(),
        );
    let body = ctx.client.get_bytes(&q.path("/containers/json")).await?;
    let items = match container::Summary::list_from_slice(&body) {
        Ok(items) => items,
        // Not JSON: the error `get_json` gives.
        Err(_) => {
            crate::client::parse_json(&body)?;
            Vec::new()
        }
    };
    let format_text = container::format_string(&format_src, a.quiet, size);
    let trunc = !a.no_trunc;
    // `-q` (and `--format '{{.ID}}'`) need only the IDs: skip the template.
    if format_text == "{{.ID}}" {
        let mut out = String::with_capacity(items.len() * 13);
        for c in &items {
            if trunc {
                out.push_str(&format::truncate_id(&c.id));
            } else {
                out.push_str(&c.id);
            }
            out.push('\n');
        }
        print_rendered(&out);
        return Ok(());
    }
    let fmt = Format::new(&format_text);
    let tmpl = Template::parse(&fmt.text).map_err(format::FormatError::from)?;
    // Only the fields the template reads are computed for each row.
    let mut rows = container::Rows::new(trunc, container::Fields::used_by(&tmpl));
    let rows: Vec<_> = items.iter().map(|c| rows.row(c)).collect();
    let out = format::render_with(&fmt, &tmpl, &container::header(), &rows)?;
    print_rendered(&out);
    Ok(())
}

"""Amazon Redshift Serverless: a real PostgreSQL 16 standing in, with Redshift's SQL and COPY.

    server        the warehouse process (pgserver's PostgreSQL binaries), `superuser_dsn`
    dirs          where its data, socket and binaries live, and who may reach them (root)
    connection    connect(dsn): Redshift SQL in, PostgreSQL underneath; the statement log
    dialect       Redshift DDL/SQL reduced to PostgreSQL with sqlglot
    copy          COPY ... FROM 's3://...' (manifest or prefix; JSON 'auto' or CSV)
    copy_options  the COPY options the stand-in honours (others are refused by name)
    copy_source   the S3 objects a COPY reads, gunzipped in a read-ahead thread
    copy_arrow    the first try of JSON 'auto': pyarrow's JSON reader with the table's schema -> CSV -> COPY
    copy_json     the fast path of JSON 'auto' (orjson -> PostgreSQL COPY FROM STDIN)
    copy_errors   bad records: found in SQL, written to stl_load_errors, counted against MAXERROR
    cost_report   `make cost`: the statement log and the Redshift Serverless charge it implies
    serverless    the control plane: the warehouse as one namespace and workgroup (moto forwards)
    data_api      the Redshift Data API: ExecuteStatement/DescribeStatement/GetStatementResult run
                  on the stand-in as the secret's user (runtime service `redshift-data`; moto forwards)

Known gaps vs AWS:
- PostgreSQL 16, not Redshift: one server, no slices, sort/dist keys, WLM queues or concurrency
  scaling; no RPU billing or workgroups (`make cost` models the charge); roles are PostgreSQL
  roles (no IAM authentication) and the superuser, not a Redshift superuser, creates them.
- SQL: only what sqlglot parses as Redshift is accepted (its parser's message, not Redshift's);
  what sqlglot parses but PostgreSQL lacks (Redshift-only functions) fails with PostgreSQL's
  message; DISTKEY/SORTKEY/ENCODE clauses are dropped before PostgreSQL sees them (a typo in
  their column lists is caught by the parse, not as "column does not exist"); VARCHAR(n) counts
  characters here and bytes on Redshift, so a multi-byte value may fit here and not there.
- System tables are `localcloud.*` tables (statement_log, stl_load_errors), not STL/SVL views;
  durations in the statement log are this machine's, not Redshift's; statements that bypass
  `connection` are not counted by `make cost`.
- COPY JSON: one object per line (Redshift also accepts objects spanning lines); only JSON 'auto'
  (no JSONPaths file, no 'auto ignorecase'); nested values load as their JSON text; a line that is
  not valid UTF-8 is a load error (1220, as without ACCEPTINVCHARS), staged blank so the others keep
  their line numbers.
- COPY CSV: a structurally broken object (field count, quoting, invalid UTF-8) is re-read in Python
  to find its bad lines, slower than the normal path; raw_line of a CSV type error is the fields
  re-joined, not the original bytes.
- Refused by name: pipe-delimited text without CSV/JSON, SSH/EMR/DynamoDB sources,
  ACCEPTINVCHARS, FILLRECORD, TRUNCATECOLUMNS, ENCRYPTED, LZOP/BZIP2/ZSTD.
- Credentials are not checked (moto does not authorise); TIMEFORMAT patterns go to PostgreSQL's
  `to_timestamp`, close to but not identical with Redshift's; a manifest's `meta.content_length` is
  not checked; objects are read one after another in key order (Redshift: in parallel by slice).
- Control plane (`aws redshift-serverless`): read-only (List/Get of the one workgroup and
  namespace); no VPC endpoints, subnets or security groups (empty lists); the endpoint is plain
  TCP without TLS; ids and ARNs are derived from the names (stable, not random); `creationDate` is
  the runtime's start.
- Data API: only WorkgroupName + SecretArn authentication (no ClusterIdentifier, no DbUser/IAM
  temporary credentials); no Parameters, BatchExecuteStatement, CancelStatement, ListStatements or
  result pagination; ColumnMetadata holds names only; statements live in the runtime's memory.
- stl_load_errors: coarse error codes (1200 type/format, 1201 JSON, 1202 structure, 1220 UTF-8),
  PostgreSQL's message as err_reason, only the first bad column of a record.
"""

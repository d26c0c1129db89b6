create or replace stream dest (minute_start TIMESTAMP, N integer, "pno" VARCHAR(8)); -- out
/* pump */ create or replace pump p as insert into DEST (minute_start, N, "pno")
select stream FLOOR(s.ROWTIME TO MINUTE) AS minute_start, count(*), "pno" from source_sql_stream_001 s
group by FLOOR(s.ROWTIME TO MINUTE), "pno";
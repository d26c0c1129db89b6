CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (
             ITEM VARCHAR(1024), 
             ITEM_COUNT DOUBLE);

CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
   INSERT INTO "DESTINATION_SQL_STREAM"   
      SELECT STREAM * 
      FROM TABLE(TOP_K_ITEMS_TUMBLING(
                       CURSOR(SELECT STREAM * FROM    "SOURCE_SQL_STREAM_001"),
                       'column1', -- name of column in single quote.
                       10,          -- number of top items.
                       60           -- tumbling window size in seconds 
                       )
                  );

--Create Order_Stream.
CREATE OR REPLACE STREAM "Order_Stream" 
           ( 
            order_id     integer, 
            order_type   varchar(10),
            ticker       varchar(4),
            order_price  DOUBLE, 
            record_type  varchar(10)
            );

CREATE OR REPLACE PUMP "Order_Pump" AS 
   INSERT INTO "Order_Stream"
      SELECT STREAM oid, otype,oticker, oprice, recordtype 
      FROM   "SOURCE_SQL_STREAM_001"
      WHERE  recordtype = 'Order';
--Create Trade_Stream.      
CREATE OR REPLACE STREAM "Trade_Stream" 
           (trade_id     integer, 
            order_id     integer, 
            trade_price  DOUBLE, 
            ticker       varchar(4),
            record_type  varchar(10)
            );

CREATE OR REPLACE PUMP "Trade_Pump" AS 
   INSERT INTO "Trade_Stream"
      SELECT STREAM tid, toid, tprice, tticker, recordtype
      FROM   "SOURCE_SQL_STREAM_001"
      WHERE  recordtype = 'Trade';
--do some analytics on the Trade_Stream and Order_Stream. 
-- To see results in console you must write to OPUT_SQL_STREAM.

CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
            ticker  varchar(4),
            trade_count   integer
            );

CREATE OR REPLACE PUMP "Output_Pump" AS 
   INSERT INTO "DESTINATION_SQL_STREAM"
      SELECT STREAM ticker, count(*) as trade_count
      FROM   "Trade_Stream"
      GROUP BY ticker,
                FLOOR("Trade_Stream".ROWTIME TO MINUTE);

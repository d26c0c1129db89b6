--Creates a temporary stream.
CREATE OR REPLACE STREAM "TEMP_STREAM" (
	        "Systolic"                  INTEGER,
	        "Diastolic"                 INTEGER,
	        "BloodPressureLevel"        varchar(20),
	        "ANOMALY_SCORE"             DOUBLE,
	        "ANOMALY_EXPLANATION"       varchar(512));

--Creates another stream for application output.	        
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
	        "Systolic"                  INTEGER,
	        "Diastolic"                 INTEGER,
	        "BloodPressureLevel"        varchar(20),
	        "ANOMALY_SCORE"             DOUBLE,
	        "ANOMALY_EXPLANATION"       varchar(512));

-- Compute an anomaly score with explanation for each record in the input stream
-- using RANDOM_CUT_FOREST_WITH_EXPLANATION
CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
   INSERT INTO "TEMP_STREAM"
      SELECT STREAM "Systolic", "Diastolic", "BloodPressureLevel", ANOMALY_SCORE, ANOMALY_EXPLANATION 
      FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
              CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 100, 256, 100000, 1, true));

-- Sort records by descending anomaly score, insert into output stream
CREATE OR REPLACE PUMP "OUTPUT_PUMP" AS 
   INSERT INTO "DESTINATION_SQL_STREAM"
      SELECT STREAM * FROM "TEMP_STREAM"
      ORDER BY FLOOR("TEMP_STREAM".ROWTIME TO SECOND), ANOMALY_SCORE DESC;

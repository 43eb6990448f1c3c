# gzip.cmake — cmake -DGZIP=gzip -DIN=file -DOUT=file.gz -P gzip.cmake
# Compresses one file the way dh_compress does (-9, no name or timestamp, so
# the result is reproducible).
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
execute_process(COMMAND ${GZIP} -9 -n -c ${IN} OUTPUT_FILE ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT})
  message(FATAL_ERROR "gzip ${IN}: exit ${rc}")
endif()

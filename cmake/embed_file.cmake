# Turns a text file into a C++ source defining gpufit::config::kEmbeddedCatalogYaml.
# A raw string literal with a delimiter that the YAML never contains keeps the text verbatim.
file(READ ${INPUT} content)
string(FIND "${content}" ")gpufit_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE ${OUTPUT} "// Generated from configs/catalog.yaml by cmake/embed_file.cmake. Do not edit.\n")
file(APPEND ${OUTPUT} "#include <string_view>\nnamespace gpufit::config {\n")
file(APPEND ${OUTPUT} "extern const std::string_view kEmbeddedCatalogYaml;\n")
file(APPEND ${OUTPUT} "const std::string_view kEmbeddedCatalogYaml = R\"gpufit_embed(${content})gpufit_embed\";\n}\n")
